#!/usr/bin/env node
// Judges the sanitizer report files (ASan/LSan/UBSan log_path output) a test run left in DIR:
//   node scripts/sanitizer-reports.js DIR
// Exit 1, printing each finding in full, when any report is
//   - an error of any kind (ASan memory error or deadly signal, UBSan "runtime error",
//     LeakSanitizer's own fatal error, anything this script does not recognise), or
//   - a leak the addon made: walking its allocation stack from the allocator towards the
//     caller, a frame in the addon (native/*.cc|h, the node-addon-api headers it inlines, or
//     uring_udp.node itself) comes before any frame where JavaScript runs — memory the addon
//     allocated (itself, or through Node-API) and never freed.
// Not failed, but counted and listed:
//   - leaks of other programs the tests start (bash, python, gcc, make, the C bench peers):
//     test:asan preloads the runtimes into every process, and they free nothing at exit;
//   - leaks of V8 and of JavaScript (allocated while JS ran, even if an addon callback
//     called that JS);
//   - leaks in a process that exited without tearing its environment down (process.exit(),
//     as the CLI's error paths and some tests do): Node then frees neither V8's heap nor the
//     objects JavaScript still held, addon objects included, so a leak there says nothing.
//     Such a report is recognised by V8's own heap bookkeeping in it, which a normal exit frees.
// test/sanitizer/lsan.supp is for leaks in other libraries that would need it (none so far).
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const { isAddonFrame, reportFiles, verdict } = require('./lib/reports');

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node scripts/sanitizer-reports.js DIR');
  process.exit(2);
}

const FRAME = /^\s*#\d+ 0x[0-9a-f]+/;
// The allocator itself: ASan's interceptors and libstdc++'s operator new.
const ALLOCATOR = /libsanitizer\/|__interceptor_|\bin operator new|libstdc\+\+\.so/;
// Frames where JavaScript runs: builtins, the interpreter and JIT code (no module).
const JS_RUNS = /Builtins_|v8::internal::Execution::|v8::Function::Call\b|<unknown module>/;
// V8's own heap bookkeeping (pages, slot sets, free lists): freed when the isolate is disposed.
const V8_HEAP = / in (?:v8::internal::|cppgc::|heap::base::)/;

/** Splits an LSan report into its leak blocks ("Direct leak of ..." + frames). */
function leakBlocks(text) {
  const blocks = [];
  let current = null;
  for (const line of text.split('\n')) {
    if (/^(Direct|Indirect) leak of /.test(line)) {
      current = { head: line, frames: [] };
      blocks.push(current);
    } else if (current && FRAME.test(line)) {
      current.frames.push(line);
    } else if (line.trim() === '') {
      current = null;
    }
  }
  return blocks;
}

/** 'addon', 'v8' (V8's heap bookkeeping) or 'other', from where the allocation came from. */
function ownerOf(block) {
  const frames = block.frames.filter((frame) => !ALLOCATOR.test(frame));
  if (frames.length > 0 && V8_HEAP.test(frames[0]) && !isAddonFrame(frames[0])) return 'v8';
  // Native code that calls the allocator directly but is no longer mapped: a library unloaded
  // before the leak check — the addon, if -z nodelete did not keep it (so: count it as the addon's).
  if (frames.length > 0 && /<unknown module>/.test(frames[0])) return 'addon';
  for (const frame of frames) {
    if (isAddonFrame(frame)) return 'addon';
    if (JS_RUNS.test(frame)) return 'other';
  }
  return 'other';
}

/** The program a report came from, from its "(module+0x...)" frames: the first module that is not a library or an addon. */
function programOf(text) {
  for (const m of text.matchAll(/\((\/[^+)\s]+)\+0x[0-9a-f]+\)/g)) {
    if (!/\.so(\.|$)|\.node$/.test(path.basename(m[1]))) return m[1];
  }
  return 'unknown program';
}

function bytesOf(blocks) {
  return blocks.reduce((sum, b) => sum + Number(/of (\d+) byte/.exec(b.head)?.[1] ?? 0), 0);
}

// asan.PID, or asan.PROGRAM.PID with log_exe_name=1 (the program's name may hold dots).
const files = reportFiles('sanitizer-reports', dir, /^(asan|ubsan)\.(?:.+\.)?\d+$/);

const UNREADABLE_THREAD = /^==(?:[^=\s]+==)?\d+==Unable to get registers from thread \d+\.$/;
const unreadableThreads = new Map(); // report kind and program -> lines
const findings = [];
const ignoredLeaks = new Map(); // program -> { reports, bytes }
for (const file of files) {
  const full = path.join(dir, file);
  const text = fs.readFileSync(full, 'utf8');
  if (text.trim() === '') continue;
  const isLeakReport = /ERROR: LeakSanitizer: detected memory leaks/.test(text);
  // LeakSanitizer's exit check stops every thread with ptrace to scan its registers and stack.
  // A thread whose registers cannot be read is noted with this line, and the check goes on:
  // without that thread if it is gone (it exited during the check: ESRCH), else scanning its
  // whole stack (lsan_common.cpp, ProcessThreads). A note, not a finding: counted and listed
  // below with the program, so a pattern would show.
  const unreadable = text.split('\n').filter((line) => UNREADABLE_THREAD.test(line));
  if (unreadable.length > 0) {
    const key = path.basename(file).replace(/\.\d+$/, '');
    unreadableThreads.set(key, (unreadableThreads.get(key) ?? 0) + unreadable.length);
    if (!isLeakReport && unreadable.length === text.split('\n').filter((line) => line.trim() !== '').length) continue;
  }
  // Anything besides leak blocks, their SUMMARY, the report header and the note above is a finding.
  const rest = text
    .split('\n')
    .filter((line) => !UNREADABLE_THREAD.test(line))
    .filter((line) => !/^=+$/.test(line.trim()) && line.trim() !== '')
    // ==PID== or, with log_exe_name=1, ==PROGRAM==PID==
    .filter((line) => !/^==(?:[^=\s]+==)?\d+==ERROR: LeakSanitizer: detected memory leaks$/.test(line))
    .filter((line) => !/^(Direct|Indirect) leak of /.test(line) && !FRAME.test(line))
    .filter((line) => !/^SUMMARY: AddressSanitizer: \d+ byte\(s\) leaked in \d+ allocation\(s\)\.$/.test(line))
    .filter((line) => !/^-+$/.test(line.trim()) && !/^Suppressions used:|^\s*count\s+bytes\s+template|^\s*\d+\s+\d+\s+\S+$/.test(line));
  if (!isLeakReport || rest.length > 0) {
    findings.push({ file: full, why: isLeakReport ? 'an error besides the leaks' : 'a sanitizer error', text });
    continue;
  }
  const blocks = leakBlocks(text);
  const program = programOf(text);
  // Only Node loads the addon; other programs' unmapped frames are their own plugins.
  const isNode = path.basename(program) === path.basename(process.execPath) || isAddonFrame(text);
  const owners = blocks.map((block) => (isNode ? ownerOf(block) : 'other'));
  const inAddon = blocks.filter((_, i) => owners[i] === 'addon');
  const tornDown = !owners.includes('v8');
  if (inAddon.length > 0 && tornDown) {
    findings.push({
      file: full,
      why: `${inAddon.length} leak(s) allocated by the addon (${bytesOf(inAddon)} bytes)`,
      text: inAddon.map((b) => [b.head, ...b.frames].join('\n')).join('\n\n'),
    });
    continue;
  }
  const key = inAddon.length > 0 ? `${program}, exited without teardown (process.exit), with ${inAddon.length} addon allocation(s) still held` : program;
  const entry = ignoredLeaks.get(key) ?? { reports: 0, bytes: 0 };
  entry.reports++;
  entry.bytes += bytesOf(blocks);
  ignoredLeaks.set(key, entry);
}

for (const [program, { reports, bytes }] of ignoredLeaks) {
  console.error(`sanitizer-reports: not the addon's: ${reports} leak report(s) of ${program} (${bytes} bytes)`);
}
for (const [key, lines] of unreadableThreads) {
  console.error(`sanitizer-reports: LeakSanitizer could not read ${lines} thread(s) at exit in ${key} reports (a thread exiting during the check; not a finding)`);
}
verdict('sanitizer-reports', findings, `${files.length} report file(s) in ${dir}, no finding in the addon and no error`);
