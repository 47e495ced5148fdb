/*
 * Plain C compute kernels of the llmrec addon, called by blas.c's N-API glue
 * on arrays that live on the tfjs wasm heap. Each has a JS twin in
 * src/engine/kernels/ with the same contract (used when the addon is absent),
 * and the tests check both against the tfjs cpu backend.
 */
#include "kernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>

/*
 * expf that the compiler can vectorise (glibc's vector expf needs -ffast-math,
 * which would also drop NaN semantics everywhere): Cephes' range reduction
 * x = n ln2 + r and degree-6 polynomial, ~1 ulp; inputs clamped to
 * [-87.3, 88] so 2^n stays a normal float; NaN propagates through r.
 */
static inline float vexpf(float x) {
  x = x > 88.0f ? 88.0f : x;
  x = x < -87.33654475f ? -87.33654475f : x;
  /* round to nearest by the 1.5 * 2^23 trick (floorf is a libm call unless -fno-trapping-math) */
  float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  union { int32_t i; float f; } scale;
  scale.i = ((int32_t)n + 127) << 23;
  return p * scale.f;
}

/*
 * Max and sum over a row in 16 independent lanes (combined at the end), so
 * the compiler vectorises them without -ffast-math: a single running max or
 * sum is a serial dependency it may not reorder.
 */
#define XENT_LANES 16
void llmrec_softmax_xent(const float *logits, const int32_t *labels, int64_t N, int64_t V, float *loss, float *probs) {
  for (int64_t n = 0; n < N; n++) {
    const float *x = logits + n * V;
    float *p = probs + n * V;
    int64_t vl = V - V % XENT_LANES;
    float m[XENT_LANES], s[XENT_LANES];
    for (int l = 0; l < XENT_LANES; l++) { m[l] = x[0]; s[l] = 0.f; }
    for (int64_t v = 0; v < vl; v += XENT_LANES)
      for (int l = 0; l < XENT_LANES; l++) m[l] = x[v + l] > m[l] ? x[v + l] : m[l];
    float mx = x[0];
    for (int l = 0; l < XENT_LANES; l++) mx = m[l] > mx ? m[l] : mx;
    for (int64_t v = vl; v < V; v++) mx = x[v] > mx ? x[v] : mx;
    for (int64_t v = 0; v < vl; v += XENT_LANES)
      for (int l = 0; l < XENT_LANES; l++) {
        float e = vexpf(x[v + l] - mx);
        p[v + l] = e;
        s[l] += e;
      }
    float sum = 0.f;
    for (int l = 0; l < XENT_LANES; l++) sum += s[l];
    for (int64_t v = vl; v < V; v++) {
      p[v] = vexpf(x[v] - mx);
      sum += p[v];
    }
    float inv = 1.f / sum;
    for (int64_t v = 0; v < V; v++) p[v] *= inv;
    int32_t y = labels[n];
    loss[n] = (y >= 0 && y < V) ? (logf(sum) + mx - x[y]) : 0.f;
  }
}

void llmrec_softmax_xent_grad(const float *probs, const int32_t *labels, const float *dy, int64_t N, int64_t V, float *out) {
  for (int64_t n = 0; n < N; n++) {
    const float *p = probs + n * V;
    float *o = out + n * V;
    int32_t y = labels[n];
    float g = (y >= 0 && y < V) ? dy[n] : 0.f;
    for (int64_t v = 0; v < V; v++) o[v] = g * p[v];
    if (y >= 0 && y < V) o[y] -= g;
  }
}

/* Row statistics in double: two passes (mean, then centred sum of squares). */
void llmrec_layer_norm(const float *x, const float *gamma, const float *beta, int64_t N, int64_t D, double eps,
                       float *y, float *mean, float *rstd) {
  for (int64_t n = 0; n < N; n++) {
    const float *xr = x + n * D;
    float *yr = y + n * D;
    double s = 0;
    for (int64_t j = 0; j < D; j++) s += xr[j];
    double mu = s / (double)D;
    double v = 0;
    for (int64_t j = 0; j < D; j++) {
      double c = xr[j] - mu;
      v += c * c;
    }
    double r = 1.0 / sqrt(v / (double)D + eps);
    mean[n] = (float)mu;
    rstd[n] = (float)r;
    float muf = (float)mu, rf = (float)r;
    for (int64_t j = 0; j < D; j++) yr[j] = (xr[j] - muf) * rf * gamma[j] + beta[j];
  }
}

void llmrec_layer_norm_grad(const float *dy, const float *x, const float *mean, const float *rstd, const float *gamma,
                            int64_t N, int64_t D, float *dx, float *dgamma, float *dbeta) {
  double *dg = calloc((size_t)(2 * D > 0 ? 2 * D : 1), sizeof(double));
  double *db = dg + D;
  for (int64_t n = 0; n < N; n++) {
    const float *xr = x + n * D;
    const float *dyr = dy + n * D;
    float *dxr = dx + n * D;
    float mu = mean[n], r = rstd[n];
    double sg = 0, sgx = 0;
    for (int64_t j = 0; j < D; j++) {
      float xh = (xr[j] - mu) * r;
      float g = dyr[j] * gamma[j];
      sg += g;
      sgx += (double)g * xh;
      dg[j] += (double)dyr[j] * xh;
      db[j] += dyr[j];
    }
    float mg = (float)(sg / (double)D), mgx = (float)(sgx / (double)D);
    for (int64_t j = 0; j < D; j++) {
      float xh = (xr[j] - mu) * r;
      dxr[j] = r * (dyr[j] * gamma[j] - mg - xh * mgx);
    }
  }
  for (int64_t j = 0; j < D; j++) {
    dgamma[j] = (float)dg[j];
    dbeta[j] = (float)db[j];
  }
  free(dg);
}

/* out[o, j] = scale * sum_r x[o, r, j]; float64 accumulators. */
void llmrec_reduce_middle(const float *x, int64_t outer, int64_t R, int64_t inner, float *out, double scale) {
  if (inner == 1) {
    for (int64_t o = 0; o < outer; o++) {
      const float *xr = x + o * R;
      double s = 0;
      for (int64_t r = 0; r < R; r++) s += xr[r];
      out[o] = (float)(s * scale);
    }
    return;
  }
  double *acc = malloc((size_t)inner * sizeof(double));
  for (int64_t o = 0; o < outer; o++) {
    memset(acc, 0, (size_t)inner * sizeof(double));
    const float *xp = x + o * R * inner;
    for (int64_t r = 0; r < R; r++, xp += inner) {
      for (int64_t j = 0; j < inner; j++) acc[j] += xp[j];
    }
    for (int64_t j = 0; j < inner; j++) out[o * inner + j] = (float)(acc[j] * scale);
  }
  free(acc);
}

void llmrec_adamw(const float *restrict p, const float *restrict g, const float *restrict m, const float *restrict v, int64_t n,
                  double lr, double beta1, double beta2, double eps, double weight_decay, double bc1, double bc2,
                  double grad_scale, float *restrict p_out, float *restrict m_out, float *restrict v_out) {
  const float b1 = (float)beta1, b2 = (float)beta2, c1 = (float)(1.0 - beta1), c2 = (float)(1.0 - beta2);
  const float decay = (float)(1.0 - lr * weight_decay), step = (float)(lr / bc1), inv_bc2 = (float)(1.0 / bc2);
  const float e = (float)eps, gs = (float)grad_scale;
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i] * gs;
    float mi = b1 * m[i] + c1 * gi;
    float vi = b2 * v[i] + c2 * gi * gi;
    m_out[i] = mi;
    v_out[i] = vi;
    p_out[i] = p[i] * decay - step * mi / (sqrtf(vi * inv_bc2) + e);
  }
}

static inline float sigmoidf(float x) { return 1.f / (1.f + vexpf(-x)); }
/* tanh(x) = 2 sigmoid(2x) - 1 (absolute error ~1e-7). */
static inline float vtanhf(float x) { return 2.f / (1.f + vexpf(-2.f * x)) - 1.f; }

/* One row of the GRU cell; separate restrict pointers per gate so the loop vectorises. */
static void gru_row(int64_t d, const float *restrict xr, const float *restrict xz, const float *restrict xn,
                    const float *restrict hr, const float *restrict hz, const float *restrict hn, const float *restrict hp,
                    float *restrict gr, float *restrict gz, float *restrict gn, float *restrict ho) {
  for (int64_t j = 0; j < d; j++) {
    float r = sigmoidf(xr[j] + hr[j]);
    float z = sigmoidf(xz[j] + hz[j]);
    float n = vtanhf(xn[j] + r * hn[j]);
    gr[j] = r;
    gz[j] = z;
    gn[j] = n;
    ho[j] = (1.f - z) * n + z * hp[j];
  }
}

void llmrec_gru_cell(const float *gx, const float *gh, const float *h, int64_t B, int64_t d, float *h_out, float *gates) {
  for (int64_t b = 0; b < B; b++) {
    const float *x3 = gx + b * 3 * d, *h3 = gh + b * 3 * d;
    float *g3 = gates + b * 3 * d;
    gru_row(d, x3, x3 + d, x3 + 2 * d, h3, h3 + d, h3 + 2 * d, h + b * d, g3, g3 + d, g3 + 2 * d, h_out + b * d);
  }
}

static void gru_grad_row(int64_t d, const float *restrict gr, const float *restrict gz, const float *restrict gn,
                         const float *restrict hn, const float *restrict hp, const float *restrict dy,
                         float *restrict dxr, float *restrict dxz, float *restrict dxn,
                         float *restrict dhr, float *restrict dhz, float *restrict dhn, float *restrict dh) {
  for (int64_t j = 0; j < d; j++) {
    float r = gr[j], z = gz[j], n = gn[j], g = dy[j];
    float dn = g * (1.f - z) * (1.f - n * n);
    float dz = g * (hp[j] - n) * z * (1.f - z);
    float dr = dn * hn[j] * r * (1.f - r);
    dxr[j] = dr;
    dxz[j] = dz;
    dxn[j] = dn;
    dhr[j] = dr;
    dhz[j] = dz;
    dhn[j] = dn * r;
    dh[j] = g * z;
  }
}

void llmrec_gru_cell_grad(const float *dh_new, const float *gates, const float *gh, const float *h, int64_t B, int64_t d,
                          float *dgx, float *dgh, float *dh) {
  for (int64_t b = 0; b < B; b++) {
    const float *g3 = gates + b * 3 * d;
    float *x3 = dgx + b * 3 * d, *y3 = dgh + b * 3 * d;
    gru_grad_row(d, g3, g3 + d, g3 + 2 * d, gh + b * 3 * d + 2 * d, h + b * d, dh_new + b * d,
                 x3, x3 + d, x3 + 2 * d, y3, y3 + d, y3 + 2 * d, dh + b * d);
  }
}

/* out[s, :] += x[i, :] for ids[i] = s in [0, num_segments); out is zeroed first. */
void llmrec_segment_sum(const float *x, const int32_t *ids, int64_t n, int64_t inner, int64_t num_segments, float *out) {
  memset(out, 0, (size_t)(num_segments * inner) * sizeof(float));
  for (int64_t i = 0; i < n; i++) {
    int32_t s = ids[i];
    if (s < 0 || s >= num_segments) continue;
    const float *restrict src = x + i * inner;
    float *restrict dst = out + (int64_t)s * inner;
    for (int64_t j = 0; j < inner; j++) dst[j] += src[j];
  }
}

/* out[i, :] = x[ids[i], :]; ids are checked by the caller. */
void llmrec_gather_rows(const float *x, const int32_t *ids, int64_t n, int64_t inner, float *out) {
  for (int64_t i = 0; i < n; i++) memcpy(out + i * inner, x + (int64_t)ids[i] * inner, (size_t)inner * sizeof(float));
}

/*
 * Attention row softmax (src/engine/kernels/attention.ts): in place on the
 * [batch, Lq, Lk] scores at s, s = softmax(scale * s + mask) by rows, the mask
 * element of (b, i, j) at mask[base[b] + i * row_stride + j * col_stride]
 * (mask may be NULL).
 */
void llmrec_attn_softmax(float *s, int64_t batch, int64_t Lq, int64_t Lk, float scale, const float *mask,
                         const int32_t *base, int64_t row_stride, int64_t col_stride) {
  for (int64_t b = 0; b < batch; b++) {
    for (int64_t i = 0; i < Lq; i++) {
      float *x = s + (b * Lq + i) * Lk;
      if (mask) {
        const float *m = mask + base[b] + i * row_stride;
        if (col_stride == 1)
          for (int64_t j = 0; j < Lk; j++) x[j] = scale * x[j] + m[j];
        else
          for (int64_t j = 0; j < Lk; j++) x[j] = scale * x[j] + m[j * col_stride];
      } else {
        for (int64_t j = 0; j < Lk; j++) x[j] = scale * x[j];
      }
      float mx = x[0];
      for (int64_t j = 1; j < Lk; j++) mx = x[j] > mx ? x[j] : mx;
      for (int64_t j = 0; j < Lk; j++) x[j] = vexpf(x[j] - mx);
      float sum = 0.f;
      for (int64_t j = 0; j < Lk; j++) sum += x[j];
      float inv = 1.f / sum;
      for (int64_t j = 0; j < Lk; j++) x[j] *= inv;
    }
  }
}

/* In place on dp: dS = scale * P (dP - rowsum(dP P)), rows of Lk (row sums in double). */
void llmrec_attn_softmax_grad(const float *p, float *dp, int64_t rows, int64_t Lk, float scale) {
  for (int64_t r = 0; r < rows; r++) {
    const float *pr = p + r * Lk;
    float *g = dp + r * Lk;
    double dot = 0;
    for (int64_t j = 0; j < Lk; j++) dot += (double)pr[j] * g[j];
    float fd = (float)dot;
    for (int64_t j = 0; j < Lk; j++) g[j] = scale * pr[j] * (g[j] - fd);
  }
}

/*
 * SwiGLU, the LLaMA-family MLP gate (src/engine/kernels/swiglu.ts):
 *   y = silu(g) u = g sigmoid(g) u
 *   dg = dy u (s + g s (1 - s)),  du = dy g s,  s = sigmoid(g) (recomputed)
 * One pass each way instead of Sigmoid, two products and ~5 gradient ops.
 */
void llmrec_swiglu(const float *g, const float *u, int64_t n, float *y) {
  for (int64_t i = 0; i < n; i++) y[i] = g[i] * sigmoidf(g[i]) * u[i];
}

void llmrec_swiglu_grad(const float *dy, const float *g, const float *u, int64_t n, float *dg, float *du) {
  for (int64_t i = 0; i < n; i++) {
    float s = sigmoidf(g[i]);
    float gs = g[i] * s;
    du[i] = dy[i] * gs;
    dg[i] = dy[i] * u[i] * (s + gs * (1.f - s));
  }
}
