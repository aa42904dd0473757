use serde::{Deserialize, Serialize};

/// An axis-aligned rectangle in points. In output and layout types the origin is the page's
/// top-left corner with y growing downwards (`x0 <= x1`, `y0 <= y1`).
///
/// Serialised as the array `[x0, y0, x1, y1]`, each rounded to two decimals.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Rect {
    /// Left edge.
    pub x0: f32,
    /// Top edge.
    pub y0: f32,
    /// Right edge.
    pub x1: f32,
    /// Bottom edge.
    pub y1: f32,
}

impl Rect {
    /// A rectangle from two corners in any order.
    pub fn from_corners(ax: f32, ay: f32, bx: f32, by: f32) -> Self {
        Self {
            x0: ax.min(bx),
            y0: ay.min(by),
            x1: ax.max(bx),
            y1: ay.max(by),
        }
    }

    /// Width (never negative).
    pub fn width(&self) -> f32 {
        (self.x1 - self.x0).max(0.0)
    }

    /// Height (never negative).
    pub fn height(&self) -> f32 {
        (self.y1 - self.y0).max(0.0)
    }

    /// The smallest rectangle containing both.
    #[must_use]
    pub fn union(&self, other: &Rect) -> Rect {
        Rect {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }

    /// The overlapping part, if any.
    pub fn intersect(&self, other: &Rect) -> Option<Rect> {
        let r = Rect {
            x0: self.x0.max(other.x0),
            y0: self.y0.max(other.y0),
            x1: self.x1.min(other.x1),
            y1: self.y1.min(other.y1),
        };
        (r.x0 <= r.x1 && r.y0 <= r.y1).then_some(r)
    }

    /// True when every coordinate is finite.
    pub fn is_finite(&self) -> bool {
        self.x0.is_finite() && self.y0.is_finite() && self.x1.is_finite() && self.y1.is_finite()
    }

    /// Coordinates rounded to two decimals (what JSON output carries).
    #[must_use]
    pub fn rounded(&self) -> Rect {
        let r = |v: f32| (v * 100.0).round() / 100.0;
        Rect {
            x0: r(self.x0),
            y0: r(self.y0),
            x1: r(self.x1),
            y1: r(self.y1),
        }
    }
}

impl Serialize for Rect {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.rounded();
        [r.x0, r.y0, r.x1, r.y1].serialize(s)
    }
}

impl<'de> Deserialize<'de> for Rect {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let [x0, y0, x1, y1] = <[f32; 4]>::deserialize(d)?;
        Ok(Rect { x0, y0, x1, y1 })
    }
}

// Hand-written because `Rect` serialises as an array, not as the struct its fields suggest.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Rect {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rect".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "Axis-aligned box `[x0, y0, x1, y1]` in points, origin at the top-left \
                corner of the visible page, y growing downwards; each value rounded to two decimals.",
            "type": "array",
            "items": { "type": "number" },
            "minItems": 4,
            "maxItems": 4
        })
    }
}

/// A PDF affine transformation `[a b c d e f]`, mapping `(x, y)` to
/// `(a*x + c*y + e, b*x + d*y + f)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Matrix {
    /// Coefficients in PDF order.
    pub m: [f64; 6],
}

impl Default for Matrix {
    fn default() -> Self {
        Self::IDENTITY
    }
}

impl Matrix {
    /// The identity transform.
    pub const IDENTITY: Matrix = Matrix {
        m: [1.0, 0.0, 0.0, 1.0, 0.0, 0.0],
    };

    /// A matrix from its six coefficients.
    pub const fn new(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64) -> Self {
        Matrix {
            m: [a, b, c, d, e, f],
        }
    }

    /// A translation.
    pub const fn translate(tx: f64, ty: f64) -> Self {
        Matrix::new(1.0, 0.0, 0.0, 1.0, tx, ty)
    }

    /// `self` followed by `then` (PDF's `self × then`).
    #[must_use]
    pub fn then(&self, then: &Matrix) -> Matrix {
        let [a, b, c, d, e, f] = self.m;
        let [a2, b2, c2, d2, e2, f2] = then.m;
        Matrix::new(
            a * a2 + b * c2,
            a * b2 + b * d2,
            c * a2 + d * c2,
            c * b2 + d * d2,
            e * a2 + f * c2 + e2,
            e * b2 + f * d2 + f2,
        )
    }

    /// Apply to a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let [a, b, c, d, e, f] = self.m;
        (a * x + c * y + e, b * x + d * y + f)
    }

    /// Apply to a vector (no translation).
    pub fn apply_vector(&self, x: f64, y: f64) -> (f64, f64) {
        let [a, b, c, d, _, _] = self.m;
        (a * x + c * y, b * x + d * y)
    }

    /// True when every coefficient is finite.
    pub fn is_finite(&self) -> bool {
        self.m.iter().all(|v| v.is_finite())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenation_order_matches_pdf() {
        // scale then translate: a point at (1,1) goes to (2,2) then (12,2).
        let m = Matrix::new(2.0, 0.0, 0.0, 2.0, 0.0, 0.0).then(&Matrix::translate(10.0, 0.0));
        assert_eq!(m.apply(1.0, 1.0), (12.0, 2.0));
    }

    #[test]
    fn rect_union_and_intersection() {
        let a = Rect::from_corners(0.0, 0.0, 10.0, 10.0);
        let b = Rect::from_corners(15.0, 5.0, 5.0, 20.0);
        assert_eq!(
            a.union(&b),
            Rect {
                x0: 0.0,
                y0: 0.0,
                x1: 15.0,
                y1: 20.0
            }
        );
        assert_eq!(
            a.intersect(&b),
            Some(Rect {
                x0: 5.0,
                y0: 5.0,
                x1: 10.0,
                y1: 10.0
            })
        );
        assert_eq!(
            a.intersect(&Rect::from_corners(11.0, 11.0, 12.0, 12.0)),
            None
        );
    }
}
