{
  "variables": {
    # CI=true turns warnings into errors; local builds only warn.
    "werror%": "<!(node -p \"process.env.CI === 'true' ? '-Werror' : '-Wno-error'\")"
  },
  "targets": [
    {
      "target_name": "uring_udp",
      "sources": [
        "native/addon.cc",
        "native/errors.cc",
        "native/probe.cc",
        "native/proc.cc",
        "native/ring_core.cc",
        "native/ring_wrap.cc",
        "native/testing.cc",
        "native/udp_receiver.cc",
        "native/udp_wrap.cc",
        "native/watchdog.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(pkg-config --cflags-only-I liburing | sed 's/-I//g')"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags": ["-fvisibility=hidden", "-Wall", "-Wextra", "<(werror)"],
      "cflags_cc": ["-std=gnu++20", "-fexceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "<(werror)"],
      # liburing is linked statically: the built .node needs no liburing.so at run time.
      "libraries": ["<!(pkg-config --variable=libdir liburing)/liburing.a"]
    }
  ]
}
