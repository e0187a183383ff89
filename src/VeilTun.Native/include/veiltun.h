/*
 * veiltun.h - the C ABI of libveiltun.so, VeilTun's userspace WireGuard as a shared library.
 *
 * In the spirit of wireguard-go's libwg-go (wgTurnOn, wgTurnOff, wgSetConfig, wgGetConfig, wgGetSocketV4/V6,
 * wgBumpSockets, wgVersion): a host that is not .NET (a Kotlin/JNI Android app, Swift, Rust, C) hands over a TUN
 * file descriptor and a configuration and gets a handle back. Build: src/VeilTun.Native/build.sh OUTDIR (Native AOT;
 * docs/embedding.md, "C ABI"). Link with -lveiltun; libsodium.so must sit beside libveiltun.so (build.sh puts it
 * there; libveiltun.so finds it through its own directory).
 *
 * Conventions, for every function below:
 *  - Strings are UTF-8 and NUL-terminated, in and out.
 *  - Errors are negative errno values (-EINVAL, -EBADF, ...: strerror(-rc) describes them), and each failed call
 *    also logs an error line through the log callback (veiltun_set_logger) saying why, so the reason is never lost
 *    (veiltun_get_socket_v4/v6's -ENOTCONN and -EAFNOSUPPORT are states, not failures, and are not logged). No
 *    failure, however caused, crosses the boundary as anything else: the library does not abort the process on
 *    bad input.
 *  - Every function may be called from any thread, concurrently. Tunnels live in a handle table under a lock; a
 *    call on a handle that is being turned off, or was turned off, or never existed, returns -EBADF. Handles are
 *    not reused until the int32_t space wraps, so a stale handle does not reach a newer tunnel.
 *  - Buffers the library returns are either static (veiltun_version) or owned by the caller and freed with
 *    veiltun_free (veiltun_get_config); each function says which. Pointers the caller passes in are only read
 *    during the call.
 *  - Callbacks (log, protect) run on the library's threads or on the calling thread, possibly concurrently with
 *    each other. They must return promptly and must not call veiltun_turn_off on the tunnel they are about; the
 *    log callback must not call into the library at all.
 */
#ifndef VEILTUN_H
#define VEILTUN_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Log levels of the log callback (Microsoft.Extensions.Logging's numbering). What wireguard-go logs as verbose is
 * DEBUG (handshakes, per-batch send failures), its errors are ERROR, the interface going up or down is INFO. */
#define VEILTUN_LOG_TRACE 0
#define VEILTUN_LOG_DEBUG 1
#define VEILTUN_LOG_INFO 2
#define VEILTUN_LOG_WARNING 3
#define VEILTUN_LOG_ERROR 4
#define VEILTUN_LOG_CRITICAL 5
#define VEILTUN_LOG_NONE 6

/*
 * A log line: level is a VEILTUN_LOG_* value, message one line of UTF-8 without a trailing newline, valid only
 * during the call (copy it to keep it). A tunnel's lines start with its interface name in parentheses, "(tun0) ",
 * as wireguard-go's do; lines about a failed call start with the function's name. No line carries a key.
 * context is the pointer given to veiltun_set_logger.
 */
typedef void (*veiltun_log_fn)(void *context, int level, const char *message);

/*
 * Protects a UDP socket the tunnel is about to use, before it carries any traffic: Android calls
 * VpnService.protect(fd) here, so the tunnel's own packets bypass the tunnel; a Linux host may set SO_MARK. fd is
 * the tunnel's socket: do not close it and do not keep it past the tunnel (veiltun_get_socket_v4 gives the current
 * one). Called on the calling thread of veiltun_turn_on and veiltun_bump_sockets, and on a library thread when the
 * interface comes up later or a listen port changes. Return 0 when protected; anything else refuses the socket:
 * it is closed and the tunnel stays (or goes) without one, which is logged as an error.
 * context is the pointer given to veiltun_turn_on.
 */
typedef int (*veiltun_protect_fn)(void *context, int fd);

/*
 * The library's version, e.g. "0.1.0+1a2b3c4d...". The string is static: owned by the library, valid for the life
 * of the process, never freed by the caller. Never NULL.
 */
const char *veiltun_version(void);

/*
 * Sets the process-wide log callback for every tunnel and for failed calls, replacing the previous one (NULL or
 * VEILTUN_LOG_NONE: no logging, the default). Lines below min_level (a VEILTUN_LOG_* value) are not even
 * formatted. Tunnels already on switch over at once. When it returns, the previous callback is not running and will
 * not be called again, so its context may be freed. Call it before veiltun_turn_on to see why a turn-on failed.
 * Returns 0, or -EINVAL for a min_level outside VEILTUN_LOG_TRACE..VEILTUN_LOG_NONE.
 */
int veiltun_set_logger(veiltun_log_fn callback, void *context, int min_level);

/*
 * Turns a tunnel on, on an open TUN descriptor (IFF_TUN | IFF_NO_PI, as Android's VpnService.establish() and
 * ioctl(TUNSETIFF) give it; IFF_VNET_HDR is used if set), and returns its handle (>= 0) or a negative errno:
 * -EINVAL for a bad configuration or an fd that is not a TUN, -EIO when the UDP socket cannot be bound (or protect
 * refused it), -ENOMEM, ...
 *
 * config: the configuration, either wg(8) config text ("[Interface]" with PrivateKey, ListenPort, FwMark and
 *   "[Peer]" sections with PublicKey, PresharedKey, Endpoint, AllowedIPs, PersistentKeepalive: what `wg setconf`
 *   takes; wg-quick's Address, DNS, MTU, ... are refused, as the host sets those on the interface itself), or UAPI
 *   set text as veiltun_set_config takes it (key=value lines, "private_key=<hex>" first). Text whose first
 *   non-blank character is '[' or '#' is read as wg(8) text, anything else as UAPI. NULL or "" starts the tunnel
 *   unconfigured. Endpoints are IP addresses (no DNS names).
 * tun_fd: the library takes ownership of it in every case: it is closed on failure and by veiltun_turn_off.
 *   (Android: pass ParcelFileDescriptor.detachFd().) The interface's addresses, routes and MTU are the host's to
 *   set; the tunnel comes up with the link (now, if the link is up; else when it goes up).
 * protect, protect_context: the protect callback (see veiltun_protect_fn), or NULL.
 *
 * The UDP socket is bound in the network namespace of the calling thread, on the ListenPort of the configuration
 * (0 or none: a free port), dual-stack IPv6 where the host has IPv6, else IPv4.
 */
int32_t veiltun_turn_on(const char *config, int tun_fd, veiltun_protect_fn protect, void *protect_context);

/*
 * Turns the tunnel off: stops its threads, wipes its keys, closes its UDP socket and the TUN descriptor. Returns 0,
 * or -EBADF when handle is not a tunnel (never was, or was turned off already). After it returns the handle is
 * dead: every call on it returns -EBADF, and no callback runs for it any more.
 */
int veiltun_turn_off(int32_t handle);

/*
 * Applies a UAPI set request (https://www.wireguard.com/xplatform/): the lines that follow "set=1" on the UAPI
 * socket, e.g. "public_key=<hex>\nendpoint=192.0.2.1:51820\nallowed_ip=10.0.0.0/8\n"; an empty line ends it. Keys
 * are hex. wireguard-go semantics for every key (replace_peers, remove, update_only, replace_allowed_ips, ...),
 * plus VeilTun's DAITA keys. The whole request is parsed and validated before anything changes: on error nothing
 * changed. Returns 0, or the UAPI errno: -EINVAL (a bad key or value), -EPROTO, -EIO, -EADDRINUSE (the new
 * listen_port cannot be bound), -55 (another failure, as wireguard-go's IpcErrorUnknown); -EBADF for a bad handle.
 */
int veiltun_set_config(int32_t handle, const char *uapi);

/*
 * Reads the configuration and state as a UAPI get reply, without the final "errno=0" line: private_key,
 * listen_port, fwmark, VeilTun's counters (veiltun_* keys, which wg(8) ignores), then per peer public_key,
 * preshared_key, protocol_version, endpoint, last_handshake_time_sec/_nsec, tx_bytes, rx_bytes,
 * persistent_keepalive_interval, allowed_ip lines. Keys are hex.
 *
 * On success returns 0 and stores in *config a new NUL-terminated buffer that the caller owns and must free with
 * veiltun_free (it holds the private key: veiltun_free zeroes it first). On failure returns a negative errno and
 * stores NULL (-EBADF for a bad handle, -EINVAL when config is NULL).
 */
int veiltun_get_config(int32_t handle, char **config);

/*
 * The descriptor of the UDP socket that carries IPv4 (veiltun_get_socket_v4) or IPv6 (veiltun_get_socket_v6)
 * traffic, for a host that protects sockets after the fact as libwg-go's users do (prefer the protect callback:
 * it runs before the first packet). With a dual-stack socket, the usual case, both return the same descriptor;
 * without IPv6 on the host, v6 returns -EAFNOSUPPORT. -ENOTCONN while the tunnel is down (no socket), -EBADF for
 * a bad handle. The descriptor stays the tunnel's: do not close it; it changes on veiltun_bump_sockets and when
 * the interface goes down and up.
 */
int veiltun_get_socket_v4(int32_t handle);
int veiltun_get_socket_v6(int32_t handle);

/*
 * "The network changed" (Wi-Fi to cellular, a new address, a resume): rebinds the UDP socket on the same port
 * (protecting the new one through the protect callback; if the port cannot be bound again, on a free one), keeps
 * every session, and sends every peer with an endpoint a handshake initiation at once, so it learns the new
 * address within a round trip. Does nothing while the tunnel is down. Returns 0, or -EBADF for a bad handle.
 */
int veiltun_bump_sockets(int32_t handle);

/*
 * Gives idle packet buffers back to the OS now (Android's onTrimMemory); buffers in use are never touched.
 * Returns how many buffers were released (>= 0), or -EBADF for a bad handle.
 */
int veiltun_trim_memory(int32_t handle);

/*
 * Frees a buffer returned by veiltun_get_config, zeroing it first. NULL is allowed and does nothing. Never pass it
 * anything else (not veiltun_version's string, not memory from malloc).
 */
void veiltun_free(char *buffer);

#ifdef __cplusplus
}
#endif

#endif /* VEILTUN_H */
