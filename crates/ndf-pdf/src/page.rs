//! The page tree: walked once at open (nodes only, never page contents), with inherited
//! attributes, cycle detection and depth and count limits.

use std::collections::HashSet;

use ndf_model::{Code, Matrix};

use crate::document::Pdf;
use crate::error::{PdfError, Result};
use crate::object::{Dict, ObjRef, Object, Stream};

/// Attributes a page inherits from its ancestors.
#[derive(Debug, Clone, Copy, Default)]
struct Inherited<'a> {
    resources: Option<Object<'a>>,
    media_box: Option<Object<'a>>,
    crop_box: Option<Object<'a>>,
    rotate: Option<Object<'a>>,
}

impl<'a> Inherited<'a> {
    fn update(&self, d: Dict<'a>) -> Self {
        Inherited {
            resources: d.get(b"Resources").or(self.resources),
            media_box: d.get(b"MediaBox").or(self.media_box),
            crop_box: d.get(b"CropBox").or(self.crop_box),
            rotate: d.get(b"Rotate").or(self.rotate),
        }
    }
}

/// A page found in the page tree.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PageEntry<'a> {
    id: Option<ObjRef>,
    dict: Dict<'a>,
    inherited: Inherited<'a>,
}

/// A page with its inherited attributes resolved.
#[derive(Debug, Clone, Copy)]
pub struct PageObject<'a> {
    /// 0-based index in the document.
    pub index: usize,
    /// The page object.
    pub id: Option<ObjRef>,
    /// The page dictionary.
    pub dict: Dict<'a>,
    /// Resources (possibly inherited); empty when absent.
    pub resources: Dict<'a>,
    /// The resources' object, when they are an indirect object (see [`Pdf::object_issue`]).
    pub resources_ref: Option<ObjRef>,
    /// Media box, normalised (`x0 < x1`, `y0 < y1`), in default user space.
    pub media_box: [f64; 4],
    /// Crop box clipped to the media box.
    pub crop_box: [f64; 4],
    /// Rotation in degrees: 0, 90, 180 or 270.
    pub rotate: u16,
    /// `/UserUnit` (default 1).
    pub user_unit: f64,
}

const LETTER: [f64; 4] = [0.0, 0.0, 612.0, 792.0];

impl<'a> Pdf<'a> {
    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// Page `index` (0-based).
    pub fn page(&self, index: usize) -> Option<PageObject<'a>> {
        let e = self.pages.get(index)?;
        let resources = e
            .inherited
            .resources
            .and_then(|o| self.resolve(o).as_dict())
            .unwrap_or_default();
        let media_box = e
            .inherited
            .media_box
            .and_then(|o| self.rect(o))
            .unwrap_or(LETTER);
        let crop_box = e
            .inherited
            .crop_box
            .and_then(|o| self.rect(o))
            .and_then(|c| intersect(c, media_box))
            .unwrap_or(media_box);
        let rotate = e
            .inherited
            .rotate
            .and_then(|o| self.resolve(o).as_i64())
            .unwrap_or(0);
        // Rotation must be a multiple of 90; anything else is rounded to the nearest one.
        let rotate = ((rotate as f64 / 90.0).round() as i64).rem_euclid(4) as u16 * 90;
        let user_unit = self
            .get_f64(e.dict, b"UserUnit")
            .filter(|u| u.is_finite() && *u > 0.0 && *u < 1000.0)
            .unwrap_or(1.0);
        Some(PageObject {
            index,
            id: e.id,
            dict: e.dict,
            resources,
            resources_ref: e.inherited.resources.and_then(|o| o.as_ref()),
            media_box,
            crop_box,
            rotate,
            user_unit,
        })
    }

    /// The content streams of a page, in order. Missing or non-stream entries are skipped.
    pub fn page_contents(&self, page: &PageObject<'a>) -> Vec<&'a Stream<'a>> {
        match self.get_in(page.dict, b"Contents") {
            Object::Stream(s) => vec![s],
            Object::Array(arr) => arr
                .iter()
                .filter_map(|o| self.resolve(*o).as_stream())
                .take(10_000)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// A six-number matrix array (`/Matrix`, `/FontMatrix`); `None` unless all six are finite
    /// numbers.
    pub fn matrix(&self, o: Object<'a>) -> Option<Matrix> {
        let arr = self.resolve(o).as_array()?;
        let mut v = [0.0; 6];
        if arr.len() != 6 {
            return None;
        }
        for (slot, item) in v.iter_mut().zip(arr) {
            *slot = self.resolve(*item).as_f64()?;
        }
        let [a, b, c, d, e, f] = v;
        Some(Matrix::new(a, b, c, d, e, f)).filter(Matrix::is_finite)
    }

    /// A rectangle array, normalised.
    pub fn rect(&self, o: Object<'a>) -> Option<[f64; 4]> {
        let arr = self.resolve(o).as_array()?;
        if arr.len() < 4 {
            return None;
        }
        let mut v = [0.0; 4];
        for (slot, item) in v.iter_mut().zip(arr) {
            *slot = self.resolve(*item).as_f64()?;
        }
        let r = [
            v[0].min(v[2]),
            v[1].min(v[3]),
            v[0].max(v[2]),
            v[1].max(v[3]),
        ];
        (r[2] - r[0] > 0.0 && r[3] - r[1] > 0.0 && r.iter().all(|x| x.abs() < 1.0e7)).then_some(r)
    }

    pub(crate) fn walk_page_tree(&self) -> Result<Vec<PageEntry<'a>>> {
        let mut pages = Vec::new();
        let Some(catalog) = self.catalog() else {
            return Ok(pages);
        };
        let Some(root) = catalog.get(b"Pages") else {
            return Ok(pages);
        };
        let limits = self.budget().limits();
        let max_depth = limits.max_nesting as usize;
        let max_pages = limits.max_pages as usize;
        let mut visited: HashSet<u32> = HashSet::new();
        let mut too_deep = false;
        // Explicit stack of (node, inherited, depth); children pushed in reverse for order.
        let mut stack: Vec<(Object<'a>, Inherited<'a>, usize)> =
            vec![(root, Inherited::default(), 0)];
        while let Some((node, inherited, depth)) = stack.pop() {
            self.budget().tick()?;
            if let Object::Ref(r) = node
                && !visited.insert(r.num)
            {
                self.diagnose(ndf_model::Diagnostic::warning(
                    Code::Malformed,
                    "the page tree contains a cycle; the repeated node is skipped",
                ));
                continue;
            }
            let Some(dict) = self.resolve(node).as_dict() else {
                if let Some(e) = node.as_ref().and_then(|r| self.object_issue(r))
                    && e.whole
                {
                    self.diagnose_once(ndf_model::Diagnostic::error(
                        e.error.code,
                        format!(
                            "page tree node {} is unreadable ({}); the pages below it are missing",
                            node.as_ref().map_or(0, |r| r.num),
                            e.error.message
                        ),
                    ));
                }
                continue;
            };
            let inherited = inherited.update(dict);
            let kids = self.get_in(dict, b"Kids");
            let is_node = dict.is_type(b"Type", b"Pages")
                || (kids.as_array().is_some() && !dict.is_type(b"Type", b"Page"));
            if is_node {
                if depth >= max_depth {
                    // A limit on this branch of the tree: its pages are left out (and found
                    // by scanning if no page is left), the rest of the document is read.
                    if !too_deep {
                        too_deep = true;
                        self.diagnose_once(ndf_model::Diagnostic::error(
                            Code::NestingTooDeep,
                            format!(
                                "the page tree nests deeper than {max_depth} levels; the pages below are left out"
                            ),
                        ));
                    }
                    continue;
                }
                if let Some(kids) = kids.as_array() {
                    for kid in kids.iter().rev() {
                        stack.push((*kid, inherited, depth + 1));
                    }
                }
            } else {
                if pages.len() >= max_pages {
                    return Err(PdfError::new(
                        Code::TooManyPages,
                        format!("the document has more than {max_pages} pages"),
                    ));
                }
                pages.push(PageEntry {
                    id: node.as_ref(),
                    dict,
                    inherited,
                });
            }
        }
        Ok(pages)
    }

    /// Last resort for a broken page tree: every object typed `/Page`, in object-number order.
    pub(crate) fn pages_by_scan(&self) -> Result<Vec<PageEntry<'a>>> {
        let scan = crate::repair::scan(self.data(), self.budget().limits().max_objects);
        let mut nums = scan.pages;
        nums.sort_unstable();
        nums.dedup();
        let mut pages = Vec::new();
        for num in nums {
            self.budget().tick()?;
            if pages.len() >= self.budget().limits().max_pages as usize {
                return Err(PdfError::new(
                    Code::TooManyPages,
                    "the document has too many pages",
                ));
            }
            let id = ObjRef::new(num, 0);
            if let Some(dict) = self.get(id).as_dict()
                && dict.is_type(b"Type", b"Page")
            {
                // Inherit from the parent chain as far as it can be followed.
                let mut inherited = Inherited::default();
                let mut chain = Vec::new();
                let mut parent = dict.get(b"Parent");
                while let Some(p) = parent.and_then(|p| self.resolve(p).as_dict()) {
                    if chain.len() >= 64 {
                        break;
                    }
                    chain.push(p);
                    parent = p.get(b"Parent");
                }
                for p in chain.iter().rev() {
                    inherited = inherited.update(*p);
                }
                pages.push(PageEntry {
                    id: Some(id),
                    dict,
                    inherited: inherited.update(dict),
                });
            }
        }
        if !pages.is_empty() {
            self.diagnose(ndf_model::Diagnostic::warning(
                Code::Malformed,
                "the page tree is unreadable; pages were found by scanning the file",
            ));
        }
        Ok(pages)
    }
}

fn intersect(a: [f64; 4], b: [f64; 4]) -> Option<[f64; 4]> {
    let r = [
        a[0].max(b[0]),
        a[1].max(b[1]),
        a[2].min(b[2]),
        a[3].min(b[3]),
    ];
    (r[2] - r[0] > 0.0 && r[3] - r[1] > 0.0).then_some(r)
}
