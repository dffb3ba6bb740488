#!/usr/bin/env node
// Judges valgrind memcheck's XML output (memcheck.<pid>.xml) in DIR, written by
// scripts/test-valgrind.sh:
//   node scripts/valgrind-report.js DIR
// Exit 1, printing each finding with its stacks, when
//   - an error (any kind: InvalidRead, InvalidWrite, InvalidFree, MismatchedFree, Overlap,
//     SyscallParam, Leak_DefinitelyLost, Leak_IndirectlyLost, ...) has a frame in the addon —
//     in its own stack or in the allocation/free stacks that go with it; a frame is the addon's
//     when its object is uring_udp.node (liburing is linked into it) or its source is native/;
//   - a descriptor opened from the addon is still open at exit (--track-fds);
//   - a process's output is missing or unfinished (valgrind or the program died).
// Errors with no addon frame (Node's, V8's) are counted by kind and not failed.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const { isAddonFrame, reportFiles, verdict } = require('./lib/reports');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/valgrind-report.js DIR');
  process.exit(2);
}

const decode = (text) => text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
const tag = (xml, name) => {
  const m = new RegExp(`<${name}>([\\s\\S]*?)</${name}>`).exec(xml);
  return m ? decode(m[1].trim()) : undefined;
};
const all = (xml, name) => [...xml.matchAll(new RegExp(`<${name}>([\\s\\S]*?)</${name}>`, 'g'))].map((m) => m[1]);

function frames(stackXml) {
  return all(stackXml, 'frame').map((f) => ({
    obj: tag(f, 'obj') ?? '',
    fn: tag(f, 'fn') ?? '???',
    file: tag(f, 'file'),
    dir: tag(f, 'dir') ?? '',
    line: tag(f, 'line'),
    ip: tag(f, 'ip') ?? '',
  }));
}
const isAddon = (frame) => isAddonFrame(frame.obj, frame.file ? `${frame.dir}/${frame.file}` : frame.dir);
const show = (frame) =>
  `    ${frame.fn} (${frame.file ? `${path.join(frame.dir, frame.file)}:${frame.line}` : frame.obj || frame.ip})${isAddon(frame) ? '   <-- addon' : ''}`;

const files = reportFiles('valgrind-report', dir, /^memcheck\.\d+\.xml$/);
const findings = [];
const ignored = new Map(); // kind -> count
if (files.length === 0) findings.push({ file: dir, why: 'no memcheck output: valgrind did not run', text: '' });

for (const file of files) {
  const full = path.join(dir, file);
  const xml = fs.readFileSync(full, 'utf8');
  if (!/<state>FINISHED<\/state>/.test(xml) || !/<\/valgrindoutput>/.test(xml)) {
    findings.push({ file: full, why: 'the process did not finish under valgrind (crashed or killed)', text: xml.slice(-2000) });
  }
  const errors = all(xml, 'error');
  for (const error of errors) {
    const kind = tag(error, 'kind') ?? 'unknown';
    const what = tag(error, 'what') ?? tag(tag(error, 'xwhat') ?? '', 'text') ?? kind;
    const stacks = all(error, 'stack').map(frames);
    const auxwhat = all(error, 'auxwhat').map(decode);
    if (stacks.some((stack) => stack.some(isAddon))) {
      const text = [what, ...stacks.map((stack, i) => `${i === 0 ? '' : `  ${auxwhat[i - 1] ?? 'and'}:\n`}${stack.map(show).join('\n')}`)].join('\n');
      findings.push({ file: full, why: `${kind} in the addon`, text });
    } else {
      ignored.set(kind, (ignored.get(kind) ?? 0) + 1);
    }
  }
  // --track-fds: each descriptor open at exit comes as a <stack> outside any <error>: where it was opened.
  const outside = xml.replace(/<error>[\s\S]*?<\/error>/g, '');
  for (const stackXml of all(outside, 'stack')) {
    const stack = frames(stackXml);
    if (stack.some(isAddon)) findings.push({ file: full, why: 'a descriptor the addon opened is still open at exit', text: stack.map(show).join('\n') });
  }
}

for (const [kind, count] of ignored) console.error(`valgrind-report: not the addon's: ${count} ${kind} error(s) (no frame in the addon)`);
verdict('valgrind-report', findings, `${files.length} process(es) checked, no finding in the addon`);
