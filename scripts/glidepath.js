#!/usr/bin/env node
// The `glidepath` CLI entry: load TypeScript through tsx, then run cli/main.ts.
require('tsx/cjs');
require('../cli/main.ts')
  .main(process.argv)
  .catch((err) => {
    // UsageError and validation problems: the input could not be judged.
    process.stderr.write(`glidepath: ${err && err.message ? err.message : err}\n`);
    process.exit(2);
  });
