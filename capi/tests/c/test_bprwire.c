/* The C ABI from C: every function and every error a caller can cause,
 * through include/bprwire.h, linked against libbprwire_c. Run by
 * capi/test-c.sh (plain, under the address sanitizer, under valgrind).
 * The byte-level agreement with the Rust library over generated inputs is
 * capi/tests/abi.rs; here the bytes are checked on the spec's worked
 * example and between the one-shot and prepared paths. */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bprwire.h"

static int failures = 0;

#define CHECK(cond)                                                              \
  do {                                                                           \
    if (!(cond)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);   \
      failures++;                                                                \
    }                                                                            \
  } while (0)

/* A call's status is `code` and the thread's message contains `needle`. */
#define EXPECT_ERR(call, code, needle)                                           \
  do {                                                                           \
    int32_t st_ = (call);                                                        \
    const char *m_ = bprwire_last_error();                                       \
    if (st_ != (code) || m_ == NULL || strstr(m_, (needle)) == NULL) {           \
      fprintf(stderr, "%s:%d: %s: status %d (want %d), message \"%s\" (want \"%s\")\n", \
              __FILE__, __LINE__, #call, st_, (code), m_ ? m_ : "(null)", (needle));   \
      failures++;                                                                \
    }                                                                            \
  } while (0)

#define EXPECT_OK(call)                                                          \
  do {                                                                           \
    int32_t st_ = (call);                                                        \
    if (st_ != BPRWIRE_OK || bprwire_last_error() != NULL) {                     \
      fprintf(stderr, "%s:%d: %s: status %d: %s\n", __FILE__, __LINE__, #call,   \
              st_, bprwire_last_error() ? bprwire_last_error() : "");            \
      failures++;                                                                \
    }                                                                            \
  } while (0)

/* docs/wire-format.md's worked example: one record, continuous 7 -> 0.5. */
static const uint8_t WORKED[35] = {
    0x0F, 0x00, 0x01, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x0D, 0x00, 0x02, 0x0A,
    0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x07, 0x3F, 0xE0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};

static void continuous_writer(void) {
  int64_t keys[1] = {7};
  float values[1] = {0.5f};
  size_t shape2[2] = {1, 1}, shape1[1] = {1};
  size_t len = 0, written = 0;
  uint8_t buf[64];

  EXPECT_OK(bprwire_continuous_encoded_len(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, &len));
  CHECK(len == 35);
  memset(buf, 0xAA, sizeof buf);
  EXPECT_OK(bprwire_continuous_encode(keys, 1, BPRWIRE_FLOAT, values, shape1, 1, buf, sizeof buf, &written));
  CHECK(written == 35 && memcmp(buf, WORKED, 35) == 0);
  CHECK(buf[35] == 0xAA); /* nothing past the response */

  double dvalues[1] = {0.5};
  EXPECT_OK(bprwire_continuous_encode(keys, 1, BPRWIRE_DOUBLE, dvalues, shape2, 2, buf, sizeof buf, &written));
  CHECK(written == 35 && memcmp(buf, WORKED, 35) == 0);

  /* Refusals: nothing written. */
  memset(buf, 0xAA, sizeof buf);
  EXPECT_ERR(bprwire_continuous_encode(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, buf, 34, &written),
             BPRWIRE_ERR_BUFFER_TOO_SMALL, "35");
  CHECK(buf[0] == 0xAA);
  EXPECT_ERR(bprwire_continuous_encode(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, NULL, 0, &written),
             BPRWIRE_ERR_BUFFER_TOO_SMALL, "35");
  EXPECT_ERR(bprwire_continuous_encoded_len(keys, 1, BPRWIRE_INT64, values, shape2, 2, &len),
             BPRWIRE_ERR_INVALID, "BPRWIRE_FLOAT or BPRWIRE_DOUBLE");
  size_t wide[2] = {1, 2};
  EXPECT_ERR(bprwire_continuous_encoded_len(keys, 1, BPRWIRE_FLOAT, values, wide, 2, &len),
             BPRWIRE_ERR_INVALID, "");
  EXPECT_ERR(bprwire_continuous_encoded_len(keys, 1, BPRWIRE_FLOAT, NULL, shape2, 2, &len),
             BPRWIRE_ERR_NULL, "values is NULL");
  EXPECT_ERR(bprwire_continuous_encoded_len(NULL, 1, BPRWIRE_FLOAT, values, shape2, 2, &len),
             BPRWIRE_ERR_NULL, "keys is NULL");
  EXPECT_ERR(bprwire_continuous_encoded_len(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, NULL),
             BPRWIRE_ERR_NULL, "len is NULL");
  EXPECT_ERR(bprwire_continuous_encode(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, buf, sizeof buf, NULL),
             BPRWIRE_ERR_NULL, "written is NULL");
  int64_t twice[2] = {7, 7};
  float two[2] = {1, 2};
  size_t shape12[2] = {1, 2};
  EXPECT_ERR(bprwire_continuous_encoded_len(twice, 2, BPRWIRE_FLOAT, two, shape12, 2, &len),
             BPRWIRE_ERR_INVALID, "7");
  /* A success clears the thread's message. */
  EXPECT_OK(bprwire_continuous_encoded_len(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, &len));
}

/* An `alloc` callback over a caller's arena: refuses when told to. */
typedef struct {
  uint8_t bytes[256];
  size_t asked;
  int refuse;
} arena;

static uint8_t *arena_alloc(void *ctx, size_t len) {
  arena *a = ctx;
  a->asked = len;
  return a->refuse || len > sizeof a->bytes ? NULL : a->bytes;
}

/* The allocating writers: one call sizes, asks for exactly that, writes. */
static void allocating_writers(void) {
  int64_t keys[1] = {7};
  float values[1] = {0.5f};
  size_t shape2[2] = {1, 1};
  size_t written = 0;
  arena a = {{0}, 0, 0};
  EXPECT_OK(bprwire_continuous_encode_alloc(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, arena_alloc, &a, &written));
  CHECK(a.asked == sizeof WORKED && written == sizeof WORKED);
  CHECK(memcmp(a.bytes, WORKED, sizeof WORKED) == 0);
  a.refuse = 1;
  EXPECT_ERR(bprwire_continuous_encode_alloc(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, arena_alloc, &a, &written),
             BPRWIRE_ERR_ALLOC, "alloc refused 35 bytes");
  EXPECT_ERR(bprwire_continuous_encode_alloc(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, NULL, &a, &written),
             BPRWIRE_ERR_NULL, "alloc");
  EXPECT_ERR(bprwire_continuous_encode_alloc(keys, 1, BPRWIRE_FLOAT, values, shape2, 2, arena_alloc, &a, NULL),
             BPRWIRE_ERR_NULL, "written");
  /* A refused input asks for nothing. */
  a.asked = 0;
  EXPECT_ERR(bprwire_continuous_encode_alloc(keys, 1, BPRWIRE_INT64, values, shape2, 2, arena_alloc, &a, &written),
             BPRWIRE_ERR_INVALID, "BPRWIRE_DOUBLE");
  CHECK(a.asked == 0);

  /* Dense: the same bytes as the caller-buffer writer. */
  float emb[4] = {1, 2, 3, 4};
  size_t emb_shape[2] = {2, 2};
  int64_t dkeys[1] = {100};
  bprwire_tensor t[1] = {{BPRWIRE_FLOAT, emb, 4, emb_shape, 2}};
  uint8_t buf[256];
  size_t n = 0;
  EXPECT_OK(bprwire_dense_encode(dkeys, 1, t, buf, sizeof buf, &n));
  a.refuse = 0;
  EXPECT_OK(bprwire_dense_encode_alloc(dkeys, 1, t, arena_alloc, &a, &written));
  CHECK(written == n && a.asked == n && memcmp(a.bytes, buf, n) == 0);
  a.refuse = 1;
  EXPECT_ERR(bprwire_dense_encode_alloc(dkeys, 1, t, arena_alloc, &a, &written), BPRWIRE_ERR_ALLOC, "alloc refused");
  EXPECT_ERR(bprwire_dense_encode_alloc(dkeys, 1, t, NULL, &a, &written), BPRWIRE_ERR_NULL, "alloc");
}

/* Dense tensors one-shot, and a prepared signature on the same batch:
 * the same bytes. */
static void dense_and_signature(void) {
  float emb[6] = {1, 2, 3, 4, 5, 6};
  int64_t ids[2] = {-1, 9};
  bprwire_str words[2] = {{(const uint8_t *)"hi", 2}, {NULL, 0}};
  size_t emb_shape[2] = {2, 3}, ids_shape[1] = {2}, words_shape[1] = {2};
  int64_t keys[3] = {100, 200, 300};
  bprwire_tensor tensors[3] = {
      {BPRWIRE_FLOAT, emb, 6, emb_shape, 2},
      {BPRWIRE_INT64, ids, 2, ids_shape, 1},
      {BPRWIRE_STRING, words, 2, words_shape, 1},
  };
  size_t len = 0, written = 0;
  EXPECT_OK(bprwire_dense_encoded_len(keys, 3, tensors, &len));
  uint8_t *one_shot = malloc(len);
  EXPECT_OK(bprwire_dense_encode(keys, 3, tensors, one_shot, len, &written));
  CHECK(written == len);

  size_t row3[1] = {3};
  bprwire_tensor_spec specs[3] = {
      {100, BPRWIRE_FLOAT, row3, 1},
      {200, BPRWIRE_INT64, NULL, 0},
      {300, BPRWIRE_STRING, NULL, 0},
  };
  bprwire_signature *sig = NULL;
  EXPECT_OK(bprwire_signature_new(NULL, 0, 0, specs, 3, &sig));
  CHECK(sig != NULL);
  bprwire_data data[3] = {{BPRWIRE_FLOAT, emb, 6}, {BPRWIRE_INT64, ids, 2}, {BPRWIRE_STRING, words, 2}};
  size_t slen = 0;
  EXPECT_OK(bprwire_signature_encoded_len(sig, 2, NULL, 0, data, 3, &slen));
  CHECK(slen == len);
  uint8_t *prepared = malloc(slen);
  EXPECT_OK(bprwire_signature_encode(sig, 2, NULL, 0, data, 3, prepared, slen, &written));
  CHECK(written == len && memcmp(prepared, one_shot, len) == 0);

  /* Refusals of the signature's per-batch checks. */
  EXPECT_ERR(bprwire_signature_encoded_len(sig, 2, NULL, 0, data, 2, &slen), BPRWIRE_ERR_INVALID, "");
  EXPECT_ERR(bprwire_signature_encoded_len(sig, 3, NULL, 0, data, 3, &slen), BPRWIRE_ERR_INVALID, "");
  bprwire_str bad[2] = {{(const uint8_t *)"\xff", 1}, {NULL, 0}};
  bprwire_data bad_data[3] = {{BPRWIRE_FLOAT, emb, 6}, {BPRWIRE_INT64, ids, 2}, {BPRWIRE_STRING, bad, 2}};
  EXPECT_ERR(bprwire_signature_encoded_len(sig, 2, NULL, 0, bad_data, 3, &slen), BPRWIRE_ERR_INVALID, "UTF-8");
  bprwire_str null_str[2] = {{NULL, 3}, {NULL, 0}};
  bprwire_data null_data[3] = {{BPRWIRE_FLOAT, emb, 6}, {BPRWIRE_INT64, ids, 2}, {BPRWIRE_STRING, null_str, 2}};
  EXPECT_ERR(bprwire_signature_encoded_len(sig, 2, NULL, 0, null_data, 3, &slen), BPRWIRE_ERR_NULL, "string 0");
  EXPECT_ERR(bprwire_signature_encode(sig, 2, NULL, 0, data, 3, prepared, slen - 1, &written),
             BPRWIRE_ERR_BUFFER_TOO_SMALL, "");
  EXPECT_ERR(bprwire_signature_encoded_len(NULL, 2, NULL, 0, data, 3, &slen), BPRWIRE_ERR_NULL, "sig is NULL");
  bprwire_data wrong_type[3] = {{BPRWIRE_DOUBLE, emb, 3}, {BPRWIRE_INT64, ids, 2}, {BPRWIRE_STRING, words, 2}};
  EXPECT_ERR(bprwire_signature_encoded_len(sig, 2, NULL, 0, wrong_type, 3, &slen), BPRWIRE_ERR_INVALID, "");
  bprwire_data unknown_type[3] = {{42, emb, 6}, {BPRWIRE_INT64, ids, 2}, {BPRWIRE_STRING, words, 2}};
  EXPECT_ERR(bprwire_signature_encoded_len(sig, 2, NULL, 0, unknown_type, 3, &slen), BPRWIRE_ERR_INVALID,
             "element type 42");
  bprwire_signature_free(sig);
  bprwire_signature_free(NULL);

  /* A signature with continuous keys, against the one-shot writer. */
  int64_t ckeys[2] = {1, 2};
  double scores[4] = {0.25, 0.5, 0.75, 1.0};
  size_t cshape[2] = {2, 2};
  EXPECT_OK(bprwire_signature_new(ckeys, 2, BPRWIRE_DOUBLE, NULL, 0, &sig));
  EXPECT_OK(bprwire_signature_encoded_len(sig, 2, scores, 4, NULL, 0, &slen));
  uint8_t *a = malloc(slen), *b = malloc(slen);
  EXPECT_OK(bprwire_signature_encode(sig, 2, scores, 4, NULL, 0, a, slen, &written));
  EXPECT_OK(bprwire_continuous_encode(ckeys, 2, BPRWIRE_DOUBLE, scores, cshape, 2, b, slen, &written));
  CHECK(written == slen && memcmp(a, b, slen) == 0);
  EXPECT_ERR(bprwire_signature_encoded_len(sig, 2, scores, 3, NULL, 0, &slen), BPRWIRE_ERR_INVALID, "");
  bprwire_signature_free(sig);

  /* Refusals when a signature is made. */
  int64_t twice[2] = {5, 5};
  EXPECT_ERR(bprwire_signature_new(twice, 2, BPRWIRE_FLOAT, NULL, 0, &sig), BPRWIRE_ERR_INVALID, "5");
  EXPECT_ERR(bprwire_signature_new(ckeys, 2, BPRWIRE_INT32, NULL, 0, &sig), BPRWIRE_ERR_INVALID,
             "continuous_dtype 2");
  bprwire_tensor_spec bad_spec[1] = {{1, 6, NULL, 0}};
  EXPECT_ERR(bprwire_signature_new(NULL, 0, 0, bad_spec, 1, &sig), BPRWIRE_ERR_INVALID, "element type 6");
  EXPECT_ERR(bprwire_signature_new(ckeys, 2, BPRWIRE_FLOAT, NULL, 0, NULL), BPRWIRE_ERR_NULL, "out is NULL");
  EXPECT_ERR(bprwire_signature_new(NULL, 2, BPRWIRE_FLOAT, NULL, 0, &sig), BPRWIRE_ERR_NULL,
             "continuous_keys is NULL");

  /* One-shot dense refusals. */
  size_t short_shape[2] = {2, 2};
  bprwire_tensor miscount[1] = {{BPRWIRE_FLOAT, emb, 6, short_shape, 2}};
  EXPECT_ERR(bprwire_dense_encoded_len(keys, 1, miscount, &len), BPRWIRE_ERR_INVALID, "100");
  bprwire_tensor no_shape[1] = {{BPRWIRE_FLOAT, emb, 6, NULL, 2}};
  EXPECT_ERR(bprwire_dense_encoded_len(keys, 1, no_shape, &len), BPRWIRE_ERR_NULL, "tensors[0].shape");
  EXPECT_ERR(bprwire_dense_encode(keys, 3, tensors, one_shot, len - 1, &written), BPRWIRE_ERR_BUFFER_TOO_SMALL, "");
  free(one_shot);
  free(prepared);
  free(a);
  free(b);
}

/* A request with one record: continuous 7 -> 0.5, 8 -> 2.0 (the decoder's
 * own doc example, with a second feature). */
static const uint8_t REQUEST[] = {
    0x0F, 0x00, 0x01, 0x0C, 0x00, 0x00, 0x00, 0x01, 0x0D, 0x00, 0x02, 0x0A, 0x04, 0x00, 0x00, 0x00,
    0x02, 0, 0, 0, 0, 0, 0, 0, 7, 0x3F, 0xE0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8,
    0x40, 0x00, 0, 0, 0, 0, 0, 0, 0x00, 0x00};

static void request_side(void) {
  const char *json = "{\"continuous\": {\"ids\": [8, 7, 9], \"dtype\": \"float32\"}}";
  bprwire_layout *layout = NULL;
  EXPECT_OK(bprwire_layout_from_json((const uint8_t *)json, strlen(json), &layout));
  float cont[2 * 3];
  bprwire_output outs[1] = {{BPRWIRE_CONTINUOUS, 0, BPRWIRE_FLOAT, cont, 6}};
  size_t rows = 0;
  EXPECT_OK(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST, outs, 1, &rows));
  CHECK(rows == 1);
  CHECK(cont[0] == 2.0f && cont[1] == 0.5f && cont[2] != cont[2] /* NaN: absent */);
  /* The arrays listed (count first, then the entries), and the records a
   * request declares: what a caller sizes its arrays with. */
  size_t n = 0;
  EXPECT_OK(bprwire_layout_arrays(layout, NULL, 0, &n));
  CHECK(n == 1);
  bprwire_array arrays[2];
  memset(arrays, 0, sizeof arrays);
  EXPECT_OK(bprwire_layout_arrays(layout, arrays, 2, &n));
  CHECK(n == 1 && arrays[0].kind == BPRWIRE_CONTINUOUS && arrays[0].dtype == BPRWIRE_FLOAT && arrays[0].width == 3);
  EXPECT_ERR(bprwire_layout_arrays(NULL, arrays, 2, &n), BPRWIRE_ERR_NULL, "layout is NULL");
  EXPECT_ERR(bprwire_layout_arrays(layout, arrays, 2, NULL), BPRWIRE_ERR_NULL, "n is NULL");
  size_t records = 0;
  EXPECT_OK(bprwire_request_records(REQUEST, sizeof REQUEST, &records));
  CHECK(records == 1);
  EXPECT_ERR(bprwire_request_records(REQUEST, 3, &records), BPRWIRE_ERR_DECODE, "");
  EXPECT_ERR(bprwire_request_records(NULL, 4, &records), BPRWIRE_ERR_NULL, "request is NULL");

  EXPECT_ERR(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST - 1, outs, 1, &rows), BPRWIRE_ERR_DECODE,
             "at byte");
  bprwire_output small[1] = {{BPRWIRE_CONTINUOUS, 0, BPRWIRE_FLOAT, cont, 2}};
  EXPECT_ERR(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST, small, 1, &rows), BPRWIRE_ERR_INVALID, "");
  bprwire_output wrong_type[1] = {{BPRWIRE_CONTINUOUS, 0, BPRWIRE_DOUBLE, cont, 3}};
  EXPECT_ERR(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST, wrong_type, 1, &rows), BPRWIRE_ERR_INVALID,
             "");
  bprwire_output misaligned[1] = {{BPRWIRE_CONTINUOUS, 0, BPRWIRE_FLOAT, (char *)cont + 1, 3}};
  EXPECT_ERR(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST, misaligned, 1, &rows), BPRWIRE_ERR_INVALID,
             "aligned");
  bprwire_output bad_kind[1] = {{9, 0, BPRWIRE_FLOAT, cont, 6}};
  EXPECT_ERR(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST, bad_kind, 1, &rows), BPRWIRE_ERR_INVALID,
             "kind 9");
  bprwire_output bad_dtype[1] = {{BPRWIRE_CONTINUOUS, 0, BPRWIRE_INT32, cont, 6}};
  EXPECT_ERR(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST, bad_dtype, 1, &rows), BPRWIRE_ERR_INVALID,
             "dtype 2");
  bprwire_output disc[1] = {{BPRWIRE_DISCRETE, 0, BPRWIRE_FLOAT, cont, 6}};
  EXPECT_ERR(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST, disc, 1, &rows), BPRWIRE_ERR_INVALID,
             "BPRWIRE_INT64");
  EXPECT_ERR(bprwire_layout_scatter(NULL, REQUEST, sizeof REQUEST, outs, 1, &rows), BPRWIRE_ERR_NULL,
             "layout is NULL");
  EXPECT_ERR(bprwire_layout_scatter(layout, REQUEST, sizeof REQUEST, outs, 1, NULL), BPRWIRE_ERR_NULL,
             "rows is NULL");
  bprwire_layout_free(layout);
  bprwire_layout_free(NULL);

  const char *bad = "{\"continuous\": {\"ids\": [1, 1]}}";
  EXPECT_ERR(bprwire_layout_from_json((const uint8_t *)bad, strlen(bad), &layout), BPRWIRE_ERR_INVALID, "1");
  EXPECT_ERR(bprwire_layout_from_json((const uint8_t *)"{", 1, &layout), BPRWIRE_ERR_INVALID, "JSON");
  EXPECT_ERR(bprwire_layout_from_json(NULL, 5, &layout), BPRWIRE_ERR_NULL, "json is NULL");
  EXPECT_ERR(bprwire_layout_from_json((const uint8_t *)json, strlen(json), NULL), BPRWIRE_ERR_NULL, "out is NULL");
}

/* Each thread has its own last error. */
static void *thread_errors(void *arg) {
  int which = *(int *)arg;
  size_t len;
  int64_t key = 1;
  float v = 1;
  size_t shape[1] = {1};
  for (int i = 0; i < 200; i++) {
    if (which == 0) {
      bprwire_continuous_encoded_len(&key, 1, 42, &v, shape, 1, &len);
      if (strstr(bprwire_last_error(), "dtype 42") == NULL) return (void *)1;
    } else {
      bprwire_continuous_encoded_len(NULL, 1, BPRWIRE_FLOAT, &v, shape, 1, &len);
      if (strstr(bprwire_last_error(), "keys is NULL") == NULL) return (void *)1;
    }
  }
  return NULL;
}

static void threads(void) {
  int64_t key = 1;
  float v = 1;
  size_t shape[1] = {1}, len;
  EXPECT_OK(bprwire_continuous_encoded_len(&key, 1, BPRWIRE_FLOAT, &v, shape, 1, &len));
  pthread_t t[2];
  int which[2] = {0, 1};
  for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, thread_errors, &which[i]);
  for (int i = 0; i < 2; i++) {
    void *r;
    pthread_join(t[i], &r);
    CHECK(r == NULL);
  }
  CHECK(bprwire_last_error() == NULL); /* this thread's own, untouched by the others' errors */
}

int main(void) {
  CHECK(bprwire_last_error() == NULL);
  continuous_writer();
  allocating_writers();
  dense_and_signature();
  request_side();
  threads();
  if (failures) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("C ABI: all checks passed\n");
  return 0;
}
