#!/usr/bin/env node
/*
 * The `medit` command as npm links it. npm links a package's bins before the root postinstall
 * builds dist/, so the bin must be a committed file: this launcher, which runs the built CLI.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const built = path.join(__dirname, '..', 'dist', 'bin.js');
if (!fs.existsSync(built)) {
  process.stderr.write(`medit: the CLI is not built (${built} is missing); run "npm run build" in the repository root\n`);
  process.exit(1);
}
require(built);
