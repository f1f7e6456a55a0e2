/*
 * halo_net: the small native part of halo's host networking.
 *
 * Raw IP sockets (VRRP proto 112, ICMP, ICMPv6) with SO_BINDTODEVICE, receive
 * with the metadata VRRP must check (TTL/hop limit, destination, ifindex),
 * send with optional source/ifindex, the multicast and TTL/TOS options, and a
 * one-shot AF_PACKET send of a full Ethernet frame (gratuitous ARP / NA).
 *
 * Plain Node-API, context-aware: nothing is global. Each environment (main
 * thread or worker_thread) keeps its receive buffer in its instance data, and
 * each socket's uv_poll_t lives on the loop of the environment that opened it.
 * Every socket registers an async cleanup hook so a terminating worker closes
 * its poll handles before its loop is torn down.
 *
 * JS API (wrapped by src/net/raw-socket.ts):
 *   open(family 4|6, protocol 1..255, ifname?) -> handle
 *   startReceive(handle, cb(err, data, src, dst, ttl, ifindex, ihl, totlen))
 *   send(handle, data, destination, source?, ifindex?)
 *   setOption(handle, name, value)   name: ttl|mcastTtl|mcastLoop|tos|checksum
 *   setMulticastInterface(handle, ifname, source?)
 *   membership(handle, join bool, group, ifname)
 *   ref(handle) / unref(handle) / close(handle)
 *   sendFrame(ifname, frame)         AF_PACKET, destination MAC = frame[0..6]
 *   pidfdOpen(pid) -> handle         a process watch: startReceive(handle, cb) calls cb(null) once, when
 *                                    the process exits (pidfd_open(2), Linux 5.3); close(handle) to release
 *   netlinkOpen(protocol, groups[], rcvbuf) -> handle
 *                                    a netlink multicast listener: startReceive(handle, cb(err, datagram))
 *                                    with the kernel's datagrams only; an overrun arrives as err.code ENOBUFS
 *                                    and reading goes on (the `netlink` package aborts the process there)
 *   netlinkSend(handle, data)        a datagram to the kernel (e.g. a connector subscription)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434 /* the same number on every architecture */
#endif

#define RECV_BUF_SIZE 65536
/* Datagrams handled per poll wakeup; uv_poll is level-triggered, so the rest
 * are read on the next loop turn instead of starving timers. */
#define MAX_BATCH 256

static const napi_type_tag SOCKET_TAG = {0x68616c6f6e65745fULL, 0x72617773636b3031ULL};

typedef struct {
  uint8_t buf[RECV_BUF_SIZE];
} env_data_t;

typedef struct {
  napi_env env;
  int fd;
  int family;
  uv_poll_t poll;
  bool receiving;
  bool dispatching;  /* inside on_readable: JS may close the socket under us */
  bool closing;      /* close started (fd closed, uv_close requested) */
  bool handle_done;  /* uv close callback ran (or handle never needs one) */
  bool js_alive;     /* JS external not yet finalized */
  bool pidfd;        /* a process watch (pidfd): readable once, when the process exits */
  napi_ref callback;
  napi_async_context async_ctx;
  napi_async_cleanup_hook_handle cleanup;
} sock_t;

/* ---------- errors ---------- */

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, uv_err_name(uv_translate_sys_error(err)), msg);
  return NULL;
}

static napi_value throw_arg(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG", msg);
  return NULL;
}

#define CHECK(call)                                       \
  do {                                                    \
    if ((call) != napi_ok) return NULL; /* JS exception */ \
  } while (0)

/* ---------- argument helpers (return false after throwing) ---------- */

static bool get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return false;
  for (size_t i = argc; i < want; i++) napi_get_undefined(env, &argv[i]);
  return true;
}

static bool is_type(napi_env env, napi_value v, napi_valuetype t) {
  napi_valuetype got;
  return napi_typeof(env, v, &got) == napi_ok && got == t;
}

static bool get_int(napi_env env, napi_value v, int64_t lo, int64_t hi, const char *name, int *out) {
  double d;
  char msg[120];
  /* Range first: converting NaN or a huge double to an integer is undefined behaviour. */
  if (is_type(env, v, napi_number) && napi_get_value_double(env, v, &d) == napi_ok && d >= (double)lo &&
      d <= (double)hi && d == (double)(int64_t)d) {
    *out = (int)d;
    return true;
  }
  snprintf(msg, sizeof msg, "%s must be an integer in [%lld, %lld]", name, (long long)lo, (long long)hi);
  throw_arg(env, msg);
  return false;
}

static bool get_str(napi_env env, napi_value v, char *out, size_t cap, const char *name) {
  size_t len;
  char msg[120];
  if (is_type(env, v, napi_string) && napi_get_value_string_utf8(env, v, out, cap, &len) == napi_ok &&
      len > 0 && len < cap - 1) {
    return true;
  }
  snprintf(msg, sizeof msg, "%s must be a non-empty string shorter than %zu bytes", name, cap - 1);
  throw_arg(env, msg);
  return false;
}

static bool get_ifindex(napi_env env, napi_value v, unsigned *out) {
  char name[IF_NAMESIZE + 1];
  char msg[120];
  if (!get_str(env, v, name, sizeof name, "ifname")) return false;
  *out = if_nametoindex(name);
  if (*out == 0) {
    snprintf(msg, sizeof msg, "interface %s", name);
    throw_errno(env, msg, errno == ENXIO ? ENODEV : errno);
    return false;
  }
  return true;
}

/* Parses an address of the socket's family into out (in_addr or in6_addr). */
static bool get_addr(napi_env env, napi_value v, int family, void *out, const char *name) {
  char s[INET6_ADDRSTRLEN + 1];
  char msg[120];
  if (!get_str(env, v, s, sizeof s, name)) return false;
  if (inet_pton(family, s, out) == 1) return true;
  snprintf(msg, sizeof msg, "%s is not a valid IPv%d address: %s", name, family == AF_INET ? 4 : 6, s);
  throw_arg(env, msg);
  return false;
}

static sock_t *get_sock(napi_env env, napi_value v) {
  bool ok = false;
  void *p = NULL;
  if (!is_type(env, v, napi_external) || napi_check_object_type_tag(env, v, &SOCKET_TAG, &ok) != napi_ok ||
      !ok || napi_get_value_external(env, v, &p) != napi_ok) {
    throw_arg(env, "not a raw socket handle");
    return NULL;
  }
  sock_t *s = p;
  if (s->closing) {
    napi_throw_error(env, "EBADF", "raw socket is closed");
    return NULL;
  }
  return s;
}

/* ---------- lifetime ---------- */

static void maybe_free(sock_t *s) {
  if (!s->js_alive && s->handle_done) free(s);
}

static void on_handle_closed(uv_handle_t *h) {
  sock_t *s = h->data;
  s->handle_done = true;
  napi_remove_async_cleanup_hook(s->cleanup);
  s->cleanup = NULL;
  maybe_free(s);
}

static void release_js(sock_t *s) {
  if (s->callback) napi_delete_reference(s->env, s->callback);
  s->callback = NULL;
  if (s->async_ctx) napi_async_destroy(s->env, s->async_ctx);
  s->async_ctx = NULL;
}

/* Stops receiving and closes the fd now; the uv handle finishes closing on
 * the next loop turn (on_handle_closed). Safe to call more than once. */
static void sock_close(sock_t *s) {
  if (s->closing) return;
  s->closing = true;
  if (s->receiving) uv_poll_stop(&s->poll);
  s->receiving = false;
  close(s->fd);
  s->fd = -1;
  if (!s->dispatching) release_js(s); /* else on_readable releases them once the callback has returned */
  uv_close((uv_handle_t *)&s->poll, on_handle_closed);
}

static void on_env_cleanup(napi_async_cleanup_hook_handle handle, void *arg) {
  (void)handle; /* same value as s->cleanup; removed in on_handle_closed */
  sock_close(arg);
}

static void on_external_finalized(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  sock_t *s = data;
  s->js_alive = false;
  sock_close(s);
  maybe_free(s);
}

/* ---------- receive ---------- */

static void deliver(sock_t *s, napi_value *argv, size_t argc) {
  napi_env env = s->env;
  napi_value fn, global, ignored;
  if (!s->callback || napi_get_reference_value(env, s->callback, &fn) != napi_ok) return;
  napi_get_global(env, &global);
  if (napi_make_callback(env, s->async_ctx, global, fn, argc, argv, &ignored) == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc); /* same as a throwing event listener */
  }
}

static void deliver_error(sock_t *s, const char *what, int err) {
  napi_value argv[1], msg, code;
  char text[160];
  snprintf(text, sizeof text, "%s: %s", what, strerror(err));
  napi_create_string_utf8(s->env, text, NAPI_AUTO_LENGTH, &msg);
  napi_create_string_utf8(s->env, uv_err_name(uv_translate_sys_error(err)), NAPI_AUTO_LENGTH, &code);
  napi_create_error(s->env, code, msg, &argv[0]);
  deliver(s, argv, 1);
}

/* Reads one datagram into buf and builds the callback arguments.
 * Returns 1 delivered-able, 0 dropped (malformed/truncated), -1 errno set. */
/* One netlink datagram from the kernel as argv[1] (Buffer); 0 if dropped (not from the kernel, truncated). */
static int read_netlink(sock_t *s, uint8_t *buf, napi_value *argv) {
  struct sockaddr_nl from;
  socklen_t fromlen = sizeof from;
  ssize_t n = recvfrom(s->fd, buf, RECV_BUF_SIZE, MSG_DONTWAIT | MSG_TRUNC, (struct sockaddr *)&from, &fromlen);
  if (n < 0) return -1;
  if (n > RECV_BUF_SIZE || fromlen != sizeof from || from.nl_pid != 0) return 0;
  napi_get_null(s->env, &argv[0]);
  void *copy;
  napi_create_buffer_copy(s->env, (size_t)n, buf, &copy, &argv[1]);
  for (int i = 2; i < 8; i++) napi_get_undefined(s->env, &argv[i]);
  return 1;
}

static int read_one(sock_t *s, uint8_t *buf, napi_value *argv) {
  napi_env env = s->env;
  if (s->family == AF_NETLINK) return read_netlink(s, buf, argv);
  struct sockaddr_storage from;
  union {
    struct cmsghdr align;
    uint8_t space[CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)) + 64];
  } ctl;
  struct iovec iov = {buf, RECV_BUF_SIZE};
  struct msghdr mh = {&from, sizeof from, &iov, 1, ctl.space, sizeof ctl.space, 0};
  ssize_t n = recvmsg(s->fd, &mh, MSG_DONTWAIT);
  if (n < 0) return -1;
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return 0;

  char src[INET6_ADDRSTRLEN] = "", dst[INET6_ADDRSTRLEN] = "";
  int ttl = -1, ifindex = 0, ihl = 0, totlen = 0;
  const uint8_t *payload = buf;
  size_t plen = (size_t)n;

  for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      struct in_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      ifindex = pi.ipi_ifindex;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      struct in6_pktinfo pi;
      memcpy(&pi, CMSG_DATA(c), sizeof pi);
      ifindex = (int)pi.ipi6_ifindex;
      inet_ntop(AF_INET6, &pi.ipi6_addr, dst, sizeof dst);
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT) {
      memcpy(&ttl, CMSG_DATA(c), sizeof ttl);
    }
  }

  if (s->family == AF_INET) {
    /* Linux raw IPv4 sockets deliver the IP header as received (network
     * byte order, options included). */
    if (n < 20 || (buf[0] >> 4) != 4) return 0;
    ihl = (buf[0] & 0x0f) * 4;
    totlen = (buf[2] << 8) | buf[3];
    if (ihl < 20 || ihl > n || totlen < ihl) return 0;
    if ((size_t)totlen < plen) plen = (size_t)totlen; /* ignore link padding */
    ttl = buf[8];
    inet_ntop(AF_INET, buf + 12, src, sizeof src);
    inet_ntop(AF_INET, buf + 16, dst, sizeof dst);
    payload = buf + ihl;
    plen -= (size_t)ihl;
  } else {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&from)->sin6_addr, src, sizeof src);
  }

  napi_create_buffer_copy(env, plen, payload, NULL, &argv[1]);
  napi_get_null(env, &argv[0]);
  napi_create_string_utf8(env, src, NAPI_AUTO_LENGTH, &argv[2]);
  napi_create_string_utf8(env, dst, NAPI_AUTO_LENGTH, &argv[3]);
  napi_create_int32(env, ttl, &argv[4]);
  napi_create_int32(env, ifindex, &argv[5]);
  napi_create_int32(env, ihl, &argv[6]);
  napi_create_int32(env, totlen, &argv[7]);
  return 1;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  sock_t *s = h->data;
  napi_env env = s->env;
  env_data_t *ed = NULL;
  (void)events;
  if (s->closing) return;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (status < 0) {
    /* libuv reports POLLERR as UV_EBADF and stops the handle. For a socket that is a pending socket error
     * (a netlink overrun: ENOBUFS): report it, clear it (SO_ERROR) and keep receiving. */
    int soerr = 0;
    socklen_t len = sizeof soerr;
    bool sock_error = !s->pidfd && getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0;
    s->dispatching = true;
    if (sock_error) deliver_error(s, "recvmsg", soerr);
    else deliver_error(s, "poll", -status);
    s->dispatching = false;
    if (s->closing) release_js(s);
    else if (sock_error && s->receiving && uv_poll_start(&s->poll, UV_READABLE, on_readable) < 0) s->receiving = false;
  } else if (s->pidfd) {
    /* The process has exited: report it once and stop polling (a pidfd stays readable). */
    napi_value argv[1];
    uv_poll_stop(&s->poll);
    s->receiving = false;
    napi_get_null(env, &argv[0]);
    s->dispatching = true;
    deliver(s, argv, 1);
    s->dispatching = false;
    if (s->closing) release_js(s);
  } else if (napi_get_instance_data(env, (void **)&ed) == napi_ok && ed) {
    s->dispatching = true;
    for (int i = 0; i < MAX_BATCH && !s->closing; i++) {
      napi_handle_scope inner;
      napi_value argv[8];
      napi_open_handle_scope(env, &inner);
      int r = read_one(s, ed->buf, argv);
      if (r > 0) deliver(s, argv, 8);
      napi_close_handle_scope(env, inner);
      if (r < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err != EAGAIN && err != EWOULDBLOCK) deliver_error(s, "recvmsg", err);
        break;
      }
    }
    s->dispatching = false;
    if (s->closing) release_js(s);
  }
  napi_close_handle_scope(env, scope);
}

/* ---------- exported functions ---------- */

/* Wraps an open fd (raw socket or pidfd) in a handle; closes the fd on failure. */
static napi_value make_handle(napi_env env, int fd, int family, bool pidfd) {
  napi_value handle;
  uv_loop_t *loop;
  sock_t *s = calloc(1, sizeof *s);
  if (!s) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->env = env;
  s->fd = fd;
  s->family = family;
  s->pidfd = pidfd;
  s->js_alive = true;
  s->poll.data = s;
  int rc = napi_get_uv_event_loop(env, &loop) != napi_ok ? UV_EINVAL
           : pidfd                                       ? uv_poll_init(loop, &s->poll, fd)
                                                         : uv_poll_init_socket(loop, &s->poll, fd);
  if (rc < 0) {
    close(fd);
    free(s);
    return throw_errno(env, "uv_poll_init", -rc);
  }
  /* From here on the handle must be closed through sock_close. */
  napi_value name;
  napi_create_string_utf8(env, pidfd ? "halo.ProcessWatch" : "halo.RawSocket", NAPI_AUTO_LENGTH, &name);
  if (napi_async_init(env, NULL, name, &s->async_ctx) != napi_ok ||
      napi_add_async_cleanup_hook(env, on_env_cleanup, s, &s->cleanup) != napi_ok ||
      napi_create_external(env, s, on_external_finalized, NULL, &handle) != napi_ok) {
    s->js_alive = false;
    sock_close(s);
    napi_throw_error(env, "ENOMEM", "cannot set up the handle");
    return NULL;
  }
  if (napi_type_tag_object(env, handle, &SOCKET_TAG) != napi_ok) {
    sock_close(s); /* the external's finalizer frees it */
    napi_throw_error(env, "ENOTSUP", "this Node.js cannot type-tag externals (needs Node-API 8 with external tags)");
    return NULL;
  }
  return handle;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int version, protocol;
  char ifname[IF_NAMESIZE + 1] = "";
  if (!get_args(env, info, 3, argv)) return NULL;
  if (!get_int(env, argv[0], 4, 6, "family", &version) || version == 5) return throw_arg(env, "family must be 4 or 6");
  if (!get_int(env, argv[1], 1, 255, "protocol", &protocol)) return NULL;
  if (!is_type(env, argv[2], napi_undefined) && !get_str(env, argv[2], ifname, sizeof ifname, "ifname")) return NULL;

  int family = version == 4 ? AF_INET : AF_INET6;
  int fd = socket(family, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int on = 1;
  if (ifname[0] && setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "SO_BINDTODEVICE", err);
  }
  if ((family == AF_INET && setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) < 0) ||
      (family == AF_INET6 && (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) < 0 ||
                              setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &on, sizeof on) < 0))) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt(pktinfo)", err);
  }

  return make_handle(env, fd, family, false);
}

static napi_value js_start_receive(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  if (!get_args(env, info, 2, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (!is_type(env, argv[1], napi_function)) return throw_arg(env, "callback must be a function");
  if (s->callback) napi_delete_reference(env, s->callback);
  CHECK(napi_create_reference(env, argv[1], 1, &s->callback));
  if (!s->receiving) {
    int rc = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (rc < 0) return throw_errno(env, "uv_poll_start", -rc);
    s->receiving = true;
  }
  return NULL;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  void *data;
  size_t len;
  int ifindex = 0;
  if (!get_args(env, info, 5, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  bool isbuf = false;
  napi_is_buffer(env, argv[1], &isbuf);
  if (!isbuf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_arg(env, "data must be a Buffer");
  if (len > 65000) return throw_arg(env, "data is larger than 65000 bytes");
  bool has_src = !is_type(env, argv[3], napi_undefined);
  if (!is_type(env, argv[4], napi_undefined) && !get_int(env, argv[4], 1, INT32_MAX, "ifindex", &ifindex)) return NULL;

  struct sockaddr_storage to;
  socklen_t tolen;
  union {
    struct cmsghdr align;
    uint8_t space[CMSG_SPACE(sizeof(struct in6_pktinfo))];
  } ctl;
  memset(&to, 0, sizeof to);
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {data, len};
  struct msghdr mh = {&to, 0, &iov, 1, NULL, 0, 0};
  struct cmsghdr *c = (struct cmsghdr *)ctl.space;

  if (s->family == AF_INET) {
    struct sockaddr_in *sin = (struct sockaddr_in *)&to;
    sin->sin_family = AF_INET;
    tolen = sizeof *sin;
    if (!get_addr(env, argv[2], AF_INET, &sin->sin_addr, "destination")) return NULL;
    if (has_src || ifindex) {
      struct in_pktinfo pi = {0};
      if (has_src && !get_addr(env, argv[3], AF_INET, &pi.ipi_spec_dst, "source")) return NULL;
      pi.ipi_ifindex = ifindex;
      c->cmsg_level = IPPROTO_IP;
      c->cmsg_type = IP_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      mh.msg_control = ctl.space;
      mh.msg_controllen = CMSG_SPACE(sizeof pi);
    }
  } else {
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&to;
    sin6->sin6_family = AF_INET6;
    tolen = sizeof *sin6;
    if (!get_addr(env, argv[2], AF_INET6, &sin6->sin6_addr, "destination")) return NULL;
    /* Link-scoped destinations need the interface as the scope id. */
    if (IN6_IS_ADDR_LINKLOCAL(&sin6->sin6_addr) || IN6_IS_ADDR_MC_LINKLOCAL(&sin6->sin6_addr)) {
      sin6->sin6_scope_id = (uint32_t)ifindex;
    }
    if (has_src || ifindex) {
      struct in6_pktinfo pi;
      memset(&pi, 0, sizeof pi);
      if (has_src && !get_addr(env, argv[3], AF_INET6, &pi.ipi6_addr, "source")) return NULL;
      pi.ipi6_ifindex = (unsigned)ifindex;
      c->cmsg_level = IPPROTO_IPV6;
      c->cmsg_type = IPV6_PKTINFO;
      c->cmsg_len = CMSG_LEN(sizeof pi);
      memcpy(CMSG_DATA(c), &pi, sizeof pi);
      mh.msg_control = ctl.space;
      mh.msg_controllen = CMSG_SPACE(sizeof pi);
    }
  }
  mh.msg_namelen = tolen;
  ssize_t n;
  do {
    n = sendmsg(s->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return throw_errno(env, "sendmsg", errno);
  return NULL;
}

static napi_value js_set_option(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char name[16];
  int value, level, opt, lo = 0, hi = 255;
  if (!get_args(env, info, 3, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s || !get_str(env, argv[1], name, sizeof name, "option")) return NULL;
  bool v4 = s->family == AF_INET;
  level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
  if (!strcmp(name, "ttl")) {
    opt = v4 ? IP_TTL : IPV6_UNICAST_HOPS;
    lo = 1;
  } else if (!strcmp(name, "mcastTtl")) {
    opt = v4 ? IP_MULTICAST_TTL : IPV6_MULTICAST_HOPS;
  } else if (!strcmp(name, "mcastLoop")) {
    opt = v4 ? IP_MULTICAST_LOOP : IPV6_MULTICAST_LOOP;
    hi = 1;
  } else if (!strcmp(name, "tos")) {
    opt = v4 ? IP_TOS : IPV6_TCLASS;
  } else if (!strcmp(name, "checksum") && !v4) {
    opt = IPV6_CHECKSUM; /* offset of the checksum field in the payload, or -1 */
    lo = -1;
    hi = 65534;
  } else {
    return throw_arg(env, "unknown socket option for this family");
  }
  if (!get_int(env, argv[2], lo, hi, name, &value)) return NULL;
  if (opt == IPV6_CHECKSUM && value >= 0 && value % 2) return throw_arg(env, "checksum offset must be even");
  if (setsockopt(s->fd, level, opt, &value, sizeof value) < 0) return throw_errno(env, name, errno);
  return NULL;
}

static napi_value js_set_multicast_interface(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  unsigned ifindex;
  int rc;
  if (!get_args(env, info, 3, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s || !get_ifindex(env, argv[1], &ifindex)) return NULL;
  if (s->family == AF_INET) {
    struct ip_mreqn mr;
    memset(&mr, 0, sizeof mr);
    mr.imr_ifindex = (int)ifindex;
    if (!is_type(env, argv[2], napi_undefined) && !get_addr(env, argv[2], AF_INET, &mr.imr_address, "source")) {
      return NULL;
    }
    rc = setsockopt(s->fd, IPPROTO_IP, IP_MULTICAST_IF, &mr, sizeof mr);
  } else {
    int idx = (int)ifindex; /* IPv6 picks the source itself (send's source overrides) */
    rc = setsockopt(s->fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx);
  }
  if (rc < 0) return throw_errno(env, "multicast interface", errno);
  return NULL;
}

static napi_value js_membership(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  bool join;
  unsigned ifindex;
  int rc;
  if (!get_args(env, info, 4, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (!is_type(env, argv[1], napi_boolean) || napi_get_value_bool(env, argv[1], &join) != napi_ok) {
    return throw_arg(env, "join must be a boolean");
  }
  if (s->family == AF_INET) {
    struct ip_mreqn mr;
    memset(&mr, 0, sizeof mr);
    if (!get_addr(env, argv[2], AF_INET, &mr.imr_multiaddr, "group") || !get_ifindex(env, argv[3], &ifindex)) {
      return NULL;
    }
    if (!IN_MULTICAST(ntohl(mr.imr_multiaddr.s_addr))) return throw_arg(env, "group is not a multicast address");
    mr.imr_ifindex = (int)ifindex;
    rc = setsockopt(s->fd, IPPROTO_IP, join ? IP_ADD_MEMBERSHIP : IP_DROP_MEMBERSHIP, &mr, sizeof mr);
  } else {
    struct ipv6_mreq mr;
    if (!get_addr(env, argv[2], AF_INET6, &mr.ipv6mr_multiaddr, "group") || !get_ifindex(env, argv[3], &ifindex)) {
      return NULL;
    }
    if (!IN6_IS_ADDR_MULTICAST(&mr.ipv6mr_multiaddr)) return throw_arg(env, "group is not a multicast address");
    mr.ipv6mr_interface = ifindex;
    rc = setsockopt(s->fd, IPPROTO_IPV6, join ? IPV6_ADD_MEMBERSHIP : IPV6_DROP_MEMBERSHIP, &mr, sizeof mr);
  }
  if (rc < 0) return throw_errno(env, join ? "join group" : "leave group", errno);
  return NULL;
}

static napi_value js_ref_unref(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  bool ref;
  if (!get_args(env, info, 2, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (!is_type(env, argv[1], napi_boolean) || napi_get_value_bool(env, argv[1], &ref) != napi_ok) {
    return throw_arg(env, "ref must be a boolean");
  }
  if (ref) {
    uv_ref((uv_handle_t *)&s->poll);
  } else {
    uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  void *p = NULL;
  bool ok = false;
  if (!get_args(env, info, 1, argv)) return NULL;
  /* Closing twice is allowed, so do not use get_sock (it rejects closed). */
  if (!is_type(env, argv[0], napi_external) || napi_check_object_type_tag(env, argv[0], &SOCKET_TAG, &ok) != napi_ok ||
      !ok || napi_get_value_external(env, argv[0], &p) != napi_ok) {
    return throw_arg(env, "not a raw socket handle");
  }
  sock_close(p);
  return NULL;
}

static napi_value js_send_frame(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  unsigned ifindex;
  void *data;
  size_t len;
  bool isbuf = false;
  if (!get_args(env, info, 2, argv) || !get_ifindex(env, argv[0], &ifindex)) return NULL;
  napi_is_buffer(env, argv[1], &isbuf);
  if (!isbuf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_arg(env, "frame must be a Buffer");
  if (len < 14 || len > 1514) return throw_arg(env, "frame must be a full Ethernet frame of 14..1514 bytes");
  const uint8_t *f = data;
  /* Protocol 0: this socket only sends, it never queues received frames. */
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  struct sockaddr_ll ll;
  memset(&ll, 0, sizeof ll);
  ll.sll_family = AF_PACKET;
  ll.sll_ifindex = (int)ifindex;
  memcpy(&ll.sll_protocol, f + 12, 2); /* ethertype, already network order */
  ll.sll_halen = 6;
  memcpy(ll.sll_addr, f, 6);
  ssize_t n = sendto(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&ll, sizeof ll);
  int err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, "sendto(AF_PACKET)", err);
  return NULL;
}

static napi_value js_pidfd_open(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  int pid;
  if (!get_args(env, info, 1, argv) || !get_int(env, argv[0], 1, 4194304, "pid", &pid)) return NULL;
  int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (fd < 0) return throw_errno(env, "pidfd_open", errno);
  return make_handle(env, fd, 0, true);
}

static napi_value js_netlink_open(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  int protocol, rcvbuf = 0;
  bool is_array = false;
  uint32_t ngroups = 0;
  if (!get_args(env, info, 3, argv) || !get_int(env, argv[0], 0, 31, "protocol", &protocol)) return NULL;
  if (napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array) return throw_arg(env, "groups must be an array");
  napi_get_array_length(env, argv[1], &ngroups);
  if (!is_type(env, argv[2], napi_undefined) && !get_int(env, argv[2], 0, 1 << 30, "rcvbuf", &rcvbuf)) return NULL;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return throw_errno(env, "socket(AF_NETLINK)", errno);
  struct sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "bind(AF_NETLINK)", err);
  }
  for (uint32_t i = 0; i < ngroups; i++) {
    napi_value v;
    int group;
    if (napi_get_element(env, argv[1], i, &v) != napi_ok || !get_int(env, v, 1, 1 << 20, "group", &group)) {
      close(fd);
      return NULL;
    }
    if (setsockopt(fd, SOL_NETLINK, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
      int err = errno;
      close(fd);
      return throw_errno(env, "NETLINK_ADD_MEMBERSHIP", err);
    }
  }
  /* Root may go past net.core.rmem_max; otherwise the kernel caps it. */
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  return make_handle(env, fd, AF_NETLINK, false);
}

static napi_value js_netlink_send(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  void *data;
  size_t len;
  bool isbuf = false;
  if (!get_args(env, info, 2, argv)) return NULL;
  sock_t *s = get_sock(env, argv[0]);
  if (!s) return NULL;
  if (s->family != AF_NETLINK) return throw_arg(env, "not a netlink handle");
  napi_is_buffer(env, argv[1], &isbuf);
  if (!isbuf || napi_get_buffer_info(env, argv[1], &data, &len) != napi_ok) return throw_arg(env, "data must be a Buffer");
  struct sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  if (sendto(s->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&kernel, sizeof kernel) < 0)
    return throw_errno(env, "sendto(AF_NETLINK)", errno);
  return NULL;
}

static void free_env_data(napi_env env, void *data, void *hint) {
  (void)env, (void)hint;
  free(data);
}

NAPI_MODULE_INIT() {
  env_data_t *ed = malloc(sizeof *ed);
  if (!ed || napi_set_instance_data(env, ed, free_env_data, NULL) != napi_ok) {
    free(ed);
    napi_throw_error(env, "ENOMEM", "halo_net: cannot allocate per-environment state");
    return NULL;
  }
  static const struct {
    const char *name;
    napi_callback fn;
  } fns[] = {
      {"open", js_open},
      {"startReceive", js_start_receive},
      {"send", js_send},
      {"setOption", js_set_option},
      {"setMulticastInterface", js_set_multicast_interface},
      {"membership", js_membership},
      {"refUnref", js_ref_unref},
      {"close", js_close},
      {"sendFrame", js_send_frame},
      {"pidfdOpen", js_pidfd_open},
      {"netlinkOpen", js_netlink_open},
      {"netlinkSend", js_netlink_send},
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value f;
    if (napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &f) != napi_ok ||
        napi_set_named_property(env, exports, fns[i].name, f) != napi_ok) {
      return NULL;
    }
  }
  return exports;
}
