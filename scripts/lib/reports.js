// What scripts/sanitizer-reports.js and scripts/valgrind-report.js share: the one definition of
// "a frame in the addon", reading a run's report files, and the verdict.
'use strict';
const fs = require('node:fs');

// Code of the addon: its sources (native/*.cc, native/*.h), the node-addon-api headers it
// inlines, and the built object (liburing is linked into it).
const ADDON_CODE = /(^|\/)native\/[\w.-]+\.(?:cc|h)\b|(^|\/)native\/?$|node-addon-api\/|uring_udp\.node\b/;

/** Whether a frame is the addon's: `where` is a sanitizer's frame line, or a frame's paths (source, object). */
function isAddonFrame(...where) {
  return where.some((text) => typeof text === 'string' && ADDON_CODE.test(text));
}

/** The report files in dir whose names match, sorted; exits 1 when dir cannot be read. */
function reportFiles(tool, dir, pattern) {
  try {
    return fs.readdirSync(dir).filter((name) => pattern.test(name)).sort();
  } catch (error) {
    console.error(`${tool}: cannot read ${dir}: ${error.message}`);
    process.exit(1);
  }
}

/** Prints the findings ({ file, why, text }) and exits: 0 with none (printing `clean`), 1 with any. */
function verdict(tool, findings, clean) {
  if (findings.length === 0) {
    console.error(`${tool}: ${clean}`);
    process.exit(0);
  }
  for (const { file, why, text } of findings) console.error(`\n===== ${tool}: ${file}: ${why}\n${text.trimEnd()}`);
  console.error(`\n${tool}: ${findings.length} finding(s); FAIL`);
  process.exit(1);
}

module.exports = { isAddonFrame, reportFiles, verdict };
