{
  "targets": [
    {
      "target_name": "halo_net",
      "sources": ["native/halo_net.c"],
      "defines": ["NAPI_VERSION=8"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"]
    }
  ]
}
