{
  "variables": {
    # CI=true turns warnings into errors; local builds only warn.
    "werror%": "<!(node -p \"process.env.CI === 'true' ? '-Werror' : '-Wno-error'\")",
    # 1: AddressSanitizer + UndefinedBehaviorSanitizer, for npm run test:asan only. Never set it
    # for a build that ships: scripts/sanitize-build.sh passes -Dsanitize=1 and builds into
    # build-sanitize/, so build/Release (what node-gyp-build loads) stays the normal build.
    "sanitize%": 0
  },
  "targets": [
    {
      "target_name": "uring_udp",
      "sources": [
        "native/addon.cc",
        "native/boundary.cc",
        "native/errors.cc",
        "native/js_waker.cc",
        "native/probe.cc",
        "native/recv_batch.cc",
        "native/recvmmsg.cc",
        "native/proc.cc",
        "native/ring_core.cc",
        "native/ring_thread.cc",
        "native/ring_wrap.cc",
        "native/receiver_plain.cc",
        "native/receiver_pool.cc",
        "native/receiver_ring.cc",
        "native/socket_receive.cc",
        "native/testing.cc",
        "native/thread_owner.cc",
        "native/udp_delivery.cc",
        "native/udp_direct.cc",
        "native/udp_socket.cc",
        "native/udp_wrap.cc",
        "native/watchdog.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I liburing | sed 's/-I//g')"
      ],
      # NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: when a worker is terminated while it is inside
      # one of the addon's methods, every Node-API call fails and the C++ exception cannot be
      # rethrown into JS; without it node-addon-api throws again from its catch handler and
      # std::terminate aborts the whole process (test/lifecycle.test.ts reproduces it).
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "<(werror)"],
      "cflags_cc": ["-std=gnu++20", "-fexceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "<(werror)"],
      # liburing is linked statically: the built .node needs no liburing.so at run time.
      "libraries": ["<!(pkg-config --variable=libdir liburing)/liburing.a"],
      # -z nodelete: the addon stays mapped when Node dlcloses it at an environment's teardown:
      # the process-wide watchdog and receiver threads run its code, and a receiver thread stuck
      # in the kernel (never joined, deliberately left) may return into it at any time.
      "ldflags": ["-Wl,-z,nodelete"],
      "conditions": [
        ["sanitize==1", {
          # -O1 -g and frame pointers for readable stacks; every UBSan finding is fatal.
          # The flags go in the Release configuration so they come after node's -O3.
          # -z nodelete: Node dlcloses addons when an environment is torn down, before
          # LeakSanitizer runs at exit; kept mapped, the addon's frames stay symbolized.
          "configurations": {
            "Release": {
              "cflags": ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-O1", "-g"],
              "ldflags": ["-fsanitize=address,undefined", "-Wl,-z,nodelete"]
            }
          }
        }]
      ]
    }
  ]
}
