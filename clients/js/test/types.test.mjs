// The type declarations (index.d.ts) compile against what an application writes (test/types/usage.ts), with the
// TypeScript compiler from the committed lockfile.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

test("index.d.ts: an application's usage compiles under strict TypeScript, misuse does not", () => {
  const require = createRequire(import.meta.url);
  const tsc = require.resolve("typescript/bin/tsc");
  const project = fileURLToPath(new URL("./types/tsconfig.json", import.meta.url));
  let output = "";
  try {
    output = execFileSync(process.execPath, [tsc, "-p", project], { encoding: "utf8" });
  } catch (error) {
    assert.fail(`tsc reported errors:\n${error.stdout}${error.stderr}`);
  }
  assert.equal(output.trim(), "");
});
