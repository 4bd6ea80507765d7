{
  "variables": {
    # 1 when scripts/test-win.sh cross-builds for Windows with mingw-w64 (node-gyp -- -DOS=win -Dwin_cross=1).
    "win_cross%": 0
  },
  "targets": [
    {
      "target_name": "symphony_ipc",
      "sources": [
        "native/binding.cc",
        "native/stream.cc",
        "native/framer.cc",
        "native/unix_socket.cc",
        "native/busy_poll.cc",
        "native/process.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "cflags_cc!": ["-fno-rtti"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "MACOSX_DEPLOYMENT_TARGET": "11.0"
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 0 }
      },
      "conditions": [
        ["win_cross==1", {
          # mingw links node.exe's exports through an import library made from node.exe itself
          # (libnode.a, see scripts/test-win.sh), not node-gyp's node.lib and MSVC libraries; the
          # delay-load hook, which exists only for node.exe being renamed, is MSVC-only.
          "win_delay_load_hook": "false",
          "libraries!": [
            "-lkernel32.lib", "-luser32.lib", "-lgdi32.lib", "-lwinspool.lib", "-lcomdlg32.lib",
            "-ladvapi32.lib", "-lshell32.lib", "-lole32.lib", "-loleaut32.lib", "-luuid.lib",
            "-lodbc32.lib", "-ldelayimp.lib", "-l\"<(node_lib_file)\""
          ],
          "libraries": ["-lnode"]
        }]
      ]
    }
  ]
}
