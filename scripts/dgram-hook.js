// Preloaded with NODE_OPTIONS=--require by scripts/library-suites.js: every require('dgram') and
// require('node:dgram') (and ESM import of either) outside this package gives uring-udp instead,
// in the process that loads it and in every child process it starts, so a library's own test
// suite runs against the drop-in. URING_UDP_DGRAM_HOOK=observe changes nothing and only notes the
// loads, for the node:dgram run the figures are compared with. Each process that loads dgram
// appends one line to URING_UDP_DGRAM_HOOK_LOG, the proof that the suite went through the hook.
'use strict';
const fs = require('node:fs');
const Module = require('node:module');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const root = path.join(__dirname, '..');
const mode = process.env.URING_UDP_DGRAM_HOOK === 'observe' ? 'observe' : 'package';
const log = process.env.URING_UDP_DGRAM_HOOK_LOG;
let noted = false;

function note() {
  if (noted || !log) return;
  noted = true;
  fs.appendFileSync(log, `${process.pid} ${mode} ${process.version}\n`);
}

// This package's own files keep node:dgram (its benchmark compares against it).
function fromPackage(filename) {
  return typeof filename === 'string' && filename.startsWith(root + path.sep) && !filename.includes(`${path.sep}node_modules${path.sep}`);
}

const load = Module._load;
Module._load = function (request, parent, isMain) {
  if ((request === 'dgram' || request === 'node:dgram') && !fromPackage(parent && parent.filename)) {
    note();
    if (mode === 'package') return load.call(this, root, parent, isMain);
  }
  return load.apply(this, arguments);
};

if (typeof Module.register === 'function') {
  Module.register(pathToFileURL(path.join(__dirname, 'dgram-hook.mjs')), {
    data: { mode, log, root, main: pathToFileURL(require.resolve(root)).href },
  });
}
