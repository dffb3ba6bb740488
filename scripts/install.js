#!/usr/bin/env node
// npm's install step for uring-udp. The published tarball carries a prebuilt addon
// (prebuilds/linux-x64/, Node-API, liburing linked in): where it loads, nothing is built. Where it
// does not (another architecture or libc, or npm_config_build_from_source=true), the addon is
// built from source with node-gyp, and when this machine lacks what that needs, this says exactly
// what to install instead of leaving the user a compiler's error.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const LIBURING = '2.3';

function say(line) {
  process.stderr.write(`uring-udp: ${line}\n`);
}

function quiet(command, args) {
  try {
    return spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return { status: null, stdout: '', stderr: '' };
  }
}

function found(command) {
  return quiet('sh', ['-c', `command -v ${command}`]).status === 0;
}

// A tool counts when it runs, not when a file of its name exists.
function runs(command) {
  return quiet('sh', ['-c', `${command} --version`]).status === 0;
}

// The addon node-gyp-build picks (build/Release, else a matching prebuild), loaded in a child so
// a bad binary cannot take this process down: its path, or null.
function loadable() {
  const script = "const p = require('node-gyp-build').resolve(process.argv[1]); require(p); console.log(p)";
  const result = spawnSync(process.execPath, ['-e', script, root], { cwd: root, encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

// What building from source needs and this machine lacks, as Debian/Ubuntu package names.
function missingForBuild() {
  const missing = [];
  const cxx = process.env.CXX || 'g++';
  if (!runs(cxx) && !runs('c++')) missing.push('g++');
  if (!runs('make')) missing.push('make');
  const python = process.env.npm_config_python || process.env.PYTHON || 'python3';
  if (!runs(python)) missing.push('python3');
  if (!runs('pkg-config')) {
    missing.push('pkg-config', 'liburing-dev');
    return missing;
  }
  const libdir = quiet('pkg-config', ['--variable=libdir', 'liburing']).stdout.trim();
  const haveLiburing = quiet('pkg-config', ['--exists', `liburing >= ${LIBURING}`]).status === 0 &&
    libdir !== '' && fs.existsSync(path.join(libdir, 'liburing.a'));
  if (!haveLiburing) missing.push('liburing-dev');
  return missing;
}

function tellWhatToInstall(missing, why) {
  say(`${why}, and building it from source needs what this machine lacks: ${missing.join(', ')}.`);
  const root = process.getuid && process.getuid() === 0;
  if (found('apt-get')) {
    const sudo = root ? '' : 'sudo ';
    say('Install them, then install uring-udp again:');
    process.stderr.write(`  ${sudo}apt-get update && ${sudo}apt-get install -y ${missing.join(' ')}\n`);
  } else {
    say(`Install a C++20 compiler, make, python3, pkg-config and liburing >= ${LIBURING} (headers and the static library liburing.a) with your package manager, then install uring-udp again.`);
  }
}

function nodeGyp() {
  // npm hands lifecycle scripts its own node-gyp; else one installed next to this package.
  if (process.env.npm_config_node_gyp) return [process.execPath, process.env.npm_config_node_gyp];
  try {
    const pkg = require.resolve('node-gyp/package.json', { paths: [root] });
    const { bin } = require(pkg);
    return [process.execPath, path.join(path.dirname(pkg), typeof bin === 'string' ? bin : bin['node-gyp'])];
  } catch {
    return ['node-gyp'];
  }
}

// A build/Release older than a native source or binding.gyp (a clone where git moved them
// since the last build) is stale even though it loads.
function stale(addon) {
  if (!addon.startsWith(path.join(root, 'build') + path.sep)) return false;
  const built = fs.statSync(addon).mtimeMs;
  const native = path.join(root, 'native');
  const sources = [path.join(root, 'binding.gyp'), ...(fs.existsSync(native) ? fs.readdirSync(native).map((f) => path.join(native, f)) : [])];
  return sources.some((f) => fs.existsSync(f) && fs.statSync(f).mtimeMs > built);
}

function main() {
  let why = 'npm_config_build_from_source is set';
  if (process.env.npm_config_build_from_source !== 'true') {
    const addon = loadable();
    if (addon && !stale(addon)) {
      console.log(`uring-udp: using ${path.relative(root, addon)}`);
      return 0;
    }
    why = addon
      ? `${path.relative(root, addon)} is older than the native sources`
      : `no prebuilt addon loads here (${process.platform}-${process.arch}, Node ${process.version})`;
  }
  const missing = missingForBuild();
  if (missing.length > 0) {
    tellWhatToInstall(missing, why);
    return 1;
  }
  say(`${why}: building the addon from source`);
  const [command, ...args] = nodeGyp();
  const built = spawnSync(command, [...args, 'rebuild'], { cwd: root, stdio: 'inherit' });
  if (built.status !== 0) {
    say(`the build failed (see above). It needs a C++20 compiler and liburing >= ${LIBURING} with liburing.a (Debian/Ubuntu: liburing-dev).`);
    return built.status || 1;
  }
  return 0;
}

process.exitCode = main();
