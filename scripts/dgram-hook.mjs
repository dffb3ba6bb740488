// The ESM half of scripts/dgram-hook.js (registered by it with module.register): import of
// 'dgram' or 'node:dgram' resolves to uring-udp's main file, outside this package's own files.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

let settings;
let noted = false;

export function initialize(data) {
  settings = data;
}

export function resolve(specifier, context, next) {
  if (settings && (specifier === 'dgram' || specifier === 'node:dgram')) {
    const parent = context.parentURL?.startsWith('file:') ? fileURLToPath(context.parentURL) : '';
    const own = parent.startsWith(settings.root + path.sep) && !parent.includes(`${path.sep}node_modules${path.sep}`);
    if (!own) {
      if (!noted && settings.log) {
        noted = true;
        fs.appendFileSync(settings.log, `${process.pid} ${settings.mode} ${process.version} esm\n`);
      }
      if (settings.mode === 'package') return { url: settings.main, format: 'commonjs', shortCircuit: true };
    }
  }
  return next(specifier, context);
}
