// A WebAssembly SIMD kernel for many float32 dot products at once, for the data generators' exact rankings
// (scripts/pipeline/rank.ts: 7,790 x 7,790 at seed size; bench/generate-tang.ts: 57,607 x 57,607 dot products of
// 768-d embeddings = 1.3e12 multiply-adds): ~10 G/s per core here against ~1 G/s for plain Float32Array loops.
//
// The module is assembled here byte by byte (no toolchain): one exported function
//   block(a, na, b, nb, out, ldo)
// computes out[i * ldo + j] = dot(A[i], B[j]) for i < na, j < nb, where A and B are row-major float32 matrices
// of `dim` columns at byte offsets a and b of the shared memory, out a float32 matrix with rows of ldo values;
// na must be a multiple of 2, nb of 4, dim of 4, a and b of 16, out of 4. `blocked` cuts a big product into
// tiles that stay in cache (one call over 2,048 x 2,048 rows runs at a sixth of the speed). Each dot
// product accumulates in four float32 lanes (lane k sums the products of columns k, k+4, k+8, ...) and ends
// with (l0 + l1) + (l2 + l3): the same bits on every machine, and dot(x, y) === dot(y, x).
// `dotRef` is the same arithmetic in JS, for the self-check.

const uleb = (n: number): number[] => {
  const o: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    o.push(b);
  } while (n);
  return o;
};
const sleb = (n: number): number[] => {
  const o: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...o, b];
    o.push(b | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
const name = (s: string): number[] => [...uleb(s.length), ...Buffer.from(s, 'utf8')];
const section = (id: number, body: number[]): number[] => [id, ...uleb(body.length), ...body];

// Value types and the instructions used (https://webassembly.github.io/spec/core/binary/instructions.html).
const I32 = 0x7f;
const V128 = 0x7b;
const op = {
  loop: [0x03, 0x40], // loop with no result
  end: [0x0b],
  brIf: (depth: number) => [0x0d, ...uleb(depth)],
  get: (l: number) => [0x20, ...uleb(l)],
  set: (l: number) => [0x21, ...uleb(l)],
  tee: (l: number) => [0x22, ...uleb(l)],
  i32: (n: number) => [0x41, ...sleb(n)],
  i32ltU: [0x49],
  i32add: [0x6a],
  i32mul: [0x6c],
  i32shl: [0x74],
  f32add: [0x92],
  f32store: (offset: number) => [0x38, 2, ...uleb(offset)], // align 2^2
  v128load: (offset: number) => [0xfd, ...uleb(0x00), 4, ...uleb(offset)], // align 2^4
  v128zero: [0xfd, ...uleb(0x0c), ...new Array<number>(16).fill(0)], // v128.const 0
  f32x4lane: (lane: number) => [0xfd, ...uleb(0x1f), lane], // f32x4.extract_lane
  f32x4add: [0xfd, ...uleb(0xe4)],
  f32x4mul: [0xfd, ...uleb(0xe6)],
};

/** The module's bytes; it imports env.memory, a shared memory of exactly `pages` 64 KiB pages. */
export function kernelModule(dim: number, pages: number): Uint8Array<ArrayBuffer> {
  if (dim % 4 !== 0 || dim <= 0) throw new Error(`dot kernel: dim must be a positive multiple of 4, got ${dim}`);
  const stride = dim * 4;
  // Locals: parameters, then i32 i, j, d, pa, pb, base, then v128 x0 x1 y0 y1 y2 y3 and 8 accumulators (2 x 4 tile).
  const [A, NA, B, NB, OUT, LDO, I, J, D, PA, PB, BASE] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
  const X = [12, 13];
  const Y = [14, 15, 16, 17];
  const ACC = (x: number, y: number) => 18 + x * 4 + y;
  const c: number[] = [];
  c.push(...op.i32(0), ...op.set(I), ...op.loop); // for i in 0..na step 2
  c.push(...op.get(A), ...op.get(I), ...op.i32(stride), ...op.i32mul, ...op.i32add, ...op.set(PA));
  c.push(...op.i32(0), ...op.set(J), ...op.loop); //   for j in 0..nb step 4
  c.push(...op.get(B), ...op.get(J), ...op.i32(stride), ...op.i32mul, ...op.i32add, ...op.set(PB));
  for (let x = 0; x < 2; x++) for (let y = 0; y < 4; y++) c.push(...op.v128zero, ...op.set(ACC(x, y)));
  c.push(...op.i32(0), ...op.set(D), ...op.loop); //     for d in 0..stride step 16 bytes
  for (let x = 0; x < 2; x++)
    c.push(...op.get(PA), ...op.get(D), ...op.i32add, ...op.v128load(x * stride), ...op.set(X[x]));
  for (let y = 0; y < 4; y++)
    c.push(...op.get(PB), ...op.get(D), ...op.i32add, ...op.v128load(y * stride), ...op.set(Y[y]));
  for (let x = 0; x < 2; x++) {
    for (let y = 0; y < 4; y++) {
      c.push(
        ...op.get(ACC(x, y)),
        ...op.get(X[x]),
        ...op.get(Y[y]),
        ...op.f32x4mul,
        ...op.f32x4add,
        ...op.set(ACC(x, y)),
      );
    }
  }
  c.push(
    ...op.get(D),
    ...op.i32(16),
    ...op.i32add,
    ...op.tee(D),
    ...op.i32(stride),
    ...op.i32ltU,
    ...op.brIf(0),
    ...op.end,
  );
  // base = out + (i * ldo + j) * 4; row x of the tile at base + x * ldo * 4
  c.push(
    ...op.get(OUT),
    ...op.get(I),
    ...op.get(LDO),
    ...op.i32mul,
    ...op.get(J),
    ...op.i32add,
    ...op.i32(2),
    ...op.i32shl,
    ...op.i32add,
    ...op.set(BASE),
  );
  for (let x = 0; x < 2; x++) {
    for (let y = 0; y < 4; y++) {
      const acc = op.get(ACC(x, y));
      c.push(...op.get(BASE));
      c.push(...acc, ...op.f32x4lane(0), ...acc, ...op.f32x4lane(1), ...op.f32add);
      c.push(...acc, ...op.f32x4lane(2), ...acc, ...op.f32x4lane(3), ...op.f32add, ...op.f32add);
      c.push(...op.f32store(y * 4));
    }
    if (x === 0) c.push(...op.get(BASE), ...op.get(LDO), ...op.i32(2), ...op.i32shl, ...op.i32add, ...op.set(BASE));
  }
  c.push(...op.get(J), ...op.i32(4), ...op.i32add, ...op.tee(J), ...op.get(NB), ...op.i32ltU, ...op.brIf(0), ...op.end);
  c.push(...op.get(I), ...op.i32(2), ...op.i32add, ...op.tee(I), ...op.get(NA), ...op.i32ltU, ...op.brIf(0), ...op.end);
  c.push(...op.end);
  const body = [
    ...vec([
      [...uleb(6), I32],
      [...uleb(14), V128],
    ]),
    ...c,
  ];
  return new Uint8Array([
    0x00,
    0x61,
    0x73,
    0x6d,
    0x01,
    0x00,
    0x00,
    0x00, // "\0asm", version 1
    // type (i32 x 6) -> ()
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32], [I32], [I32]]), ...vec([])]])),
    // shared memory
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x03, ...uleb(pages), ...uleb(pages)]])),
    ...section(3, vec([uleb(0)])),
    ...section(7, vec([[...name('block'), 0x00, ...uleb(0)]])),
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}

export type BlockFn = (a: number, na: number, b: number, nb: number, out: number, ldo: number) => void;

/** Instantiates the kernel over `memory` (shared, `pages` pages, as created by the caller). */
export function dotKernel(memory: WebAssembly.Memory, dim: number, pages: number): BlockFn {
  const inst = new WebAssembly.Instance(new WebAssembly.Module(kernelModule(dim, pages)), { env: { memory } });
  return inst.exports.block as BlockFn;
}

/** The same product as one `block` call (out rows of `ldo`, default nb), in cache-sized tiles of A and B rows. */
export function blocked(
  block: BlockFn,
  dim: number,
  a: number,
  na: number,
  b: number,
  nb: number,
  out: number,
  ldo = nb,
  tileA = 64,
  tileB = 256,
): void {
  const stride = dim * 4;
  for (let j = 0; j < nb; j += tileB) {
    const mb = Math.min(tileB, nb - j);
    for (let i = 0; i < na; i += tileA)
      block(a + i * stride, Math.min(tileA, na - i), b + j * stride, mb, out + (i * ldo + j) * 4, ldo);
  }
}

/** The kernel's arithmetic in JS (slow): dot of rows `i` of `x` and `j` of `y`. */
export function dotRef(x: Float32Array, i: number, y: Float32Array, j: number, dim: number): number {
  const l = [0, 0, 0, 0];
  for (let d = 0; d < dim; d++) l[d & 3] = Math.fround(l[d & 3] + Math.fround(x[i * dim + d] * y[j * dim + d]));
  return Math.fround(Math.fround(l[0] + l[1]) + Math.fround(l[2] + l[3]));
}
