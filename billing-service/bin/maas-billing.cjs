#!/usr/bin/env node
// Entry point of the `maas-billing` binary. In the repository it runs the TypeScript sources
// through tsx; the container image runs the compiled dist/ (see Dockerfile).
const path = require("node:path");
const fs = require("node:fs");
const compiled = path.join(__dirname, "..", "dist", "src", "cli", "main.js");
if (fs.existsSync(compiled)) {
  require(compiled).run();
} else {
  require("tsx/cjs");
  require(path.join(__dirname, "..", "src", "cli", "main.ts")).run();
}
