#!/usr/bin/env node
// Removes compiled files in dist/ whose TypeScript source is gone (a file moved or deleted):
// tsc never removes them, and Node would still resolve an import to a stale one (dist/src/x.js
// shadows dist/src/x/index.js). Run before tsc by the package's build and test scripts.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const OUTPUT = /(\.d\.ts|\.js\.map|\.js)$/;

function sweep(dir) {
  let entries;
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      sweep(p);
      if (fs.readdirSync(p).length === 0) fs.rmdirSync(p);
      continue;
    }
    const m = OUTPUT.exec(e.name);
    if (m === null) continue;
    const source = path.join(ROOT, path.relative(DIST, dir), e.name.slice(0, -m[1].length) + '.ts');
    if (!fs.existsSync(source)) fs.rmSync(p);
  }
}

sweep(DIST);
