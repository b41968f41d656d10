// Reads a little-endian float32 .npy array (the bundle's reference inputs) in C order.
export function parseNpy(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.slice(1, 6));
  if (bytes[0] !== 0x93 || magic !== "NUMPY") throw new Error("not a .npy file");
  const major = bytes[6];
  const view = new DataView(buffer);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.slice(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header);
  const order = /'fortran_order':\s*(True|False)/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !order || !shape) throw new Error(`unreadable .npy header: ${header}`);
  if (descr[1] !== "<f4") throw new Error(`.npy dtype ${descr[1]} is not little-endian float32 (<f4)`);
  if (order[1] === "True") throw new Error(".npy array is in Fortran order");
  const dims = shape[1].split(",").map((s) => s.trim()).filter((s) => s).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const data = new Float32Array(buffer.slice(offset, offset + count * 4));
  if (data.length !== count) throw new Error(`.npy holds ${data.length} values, its shape needs ${count}`);
  return {shape: dims, data};
}
