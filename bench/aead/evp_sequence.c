/* bench/aead/evp_sequence.c: the per-packet OpenSSL 3 EVP sequence VeilTun runs (and two variants), in C, so
 * bench/aead.sh can tell how much of the gap to `openssl speed` is OpenSSL's own per-call cost and how much is
 * the managed wrapper. One context per direction, key set once; per packet: nonce 00000000||LE64(counter) via
 * EVP_CipherInit_ex, one EVP_CipherUpdate in place, EVP_CipherFinal_ex, tag out (seal) or in (open).
 *
 *   evp_sequence LENGTH MILLISECONDS  ->  prints "seal_ctrl seal_params open_params" in ns per packet
 */
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec * 1e-9; }

static EVP_CIPHER_CTX *context(int enc, const unsigned char *key) {
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    if (c == NULL || EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc) != 1
        || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL) != 1
        || EVP_CipherInit_ex(c, NULL, NULL, key, NULL, -1) != 1) { fprintf(stderr, "EVP setup failed\n"); exit(1); }
    return c;
}

static void nonce(unsigned char *iv, uint64_t counter) { memset(iv, 0, 4); memcpy(iv + 4, &counter, 8); /* x86: LE */ }

int main(int argc, char **argv) {
    if (argc != 3) { fprintf(stderr, "usage: %s LENGTH MILLISECONDS\n", argv[0]); return 2; }
    int len = atoi(argv[1]); double seconds = atoi(argv[2]) / 1000.0;
    if (len < 1 || len > 65000 || seconds <= 0) return 2;
    static unsigned char buf[65536 + 16] __attribute__((aligned(64))), sealed[65536 + 16], key[32], iv[12], fin[32];
    for (int i = 0; i < 32; i++) key[i] = (unsigned char)(i * 7 + 1);
    for (int i = 0; i < len; i++) buf[i] = (unsigned char)i;
    EVP_CIPHER_CTX *enc = context(1, key), *dec = context(0, key);
    unsigned char *tag = buf + len;
    int outl; uint64_t counter = 0; long n; double t0;
    OSSL_PARAM p[2] = { OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, tag, 16), OSSL_PARAM_END };
    double r[3];

    /* seal, tag through EVP_CIPHER_CTX_ctrl(GET_TAG) (VeilTun before session 3) */
    for (n = 0, t0 = now(); now() - t0 < seconds; n++) {
        nonce(iv, counter++);
        EVP_CipherInit_ex(enc, NULL, NULL, NULL, iv, -1);
        EVP_CipherUpdate(enc, buf, &outl, buf, len);
        EVP_CipherFinal_ex(enc, fin, &outl);
        EVP_CIPHER_CTX_ctrl(enc, EVP_CTRL_AEAD_GET_TAG, 16, tag);
    }
    r[0] = (now() - t0) / n * 1e9;

    /* seal, tag through EVP_CIPHER_CTX_get_params (what VeilTun does now) */
    for (n = 0, t0 = now(); now() - t0 < seconds; n++) {
        nonce(iv, counter++);
        EVP_CipherInit_ex(enc, NULL, NULL, NULL, iv, -1);
        EVP_CipherUpdate(enc, buf, &outl, buf, len);
        EVP_CipherFinal_ex(enc, fin, &outl);
        EVP_CIPHER_CTX_get_params(enc, p);
    }
    r[1] = (now() - t0) / n * 1e9;

    /* open: one valid packet, copied back before each open (the copy is timed separately and subtracted) */
    nonce(iv, 0);
    EVP_CipherInit_ex(enc, NULL, NULL, NULL, iv, -1);
    EVP_CipherUpdate(enc, sealed, &outl, buf, len);
    EVP_CipherFinal_ex(enc, fin, &outl);
    p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, sealed + len, 16);
    EVP_CIPHER_CTX_get_params(enc, p);
    long bad = 0;
    for (n = 0, t0 = now(); now() - t0 < seconds; n++) {
        memcpy(buf, sealed, len + 16);
        p[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG, buf + len, 16);
        EVP_CipherInit_ex(dec, NULL, NULL, NULL, iv, -1);
        EVP_CIPHER_CTX_set_params(dec, p);
        EVP_CipherUpdate(dec, buf, &outl, buf, len);
        if (EVP_CipherFinal_ex(dec, fin, &outl) != 1) bad++;
    }
    double open_total = (now() - t0) / n * 1e9;
    long m; for (m = 0, t0 = now(); now() - t0 < seconds / 4; m++) { memcpy(buf, sealed, len + 16); __asm__ volatile("" ::: "memory"); }
    r[2] = open_total - (now() - t0) / m * 1e9;
    if (bad) { fprintf(stderr, "%ld opens failed\n", bad); return 1; }
    printf("%.1f %.1f %.1f\n", r[0], r[1], r[2]);
    return 0;
}
