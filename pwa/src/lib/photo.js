// Photos are made small on the phone before anything is queued: a 12-megapixel camera JPEG
// is 4-6 MB (15 minutes on 2G); 1600 px on the long side at quality 0.8 is ~250-400 KB and
// still shows a boundary stone or a crack in a wall.

const MAX_EDGE = 1600;
const QUALITY = 0.8;

function canvasOf(width, height) {
  if (typeof OffscreenCanvas !== "undefined") return new OffscreenCanvas(width, height);
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  return canvas;
}

function toBlob(canvas) {
  if (canvas.convertToBlob) return canvas.convertToBlob({ type: "image/jpeg", quality: QUALITY });
  return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", QUALITY));
}

/** A JPEG of at most MAX_EDGE pixels on its long side, upright (EXIF orientation applied). */
export async function resizePhoto(file, maxEdge = MAX_EDGE) {
  const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  try {
    const scale = Math.min(1, maxEdge / Math.max(bitmap.width, bitmap.height));
    const width = Math.max(1, Math.round(bitmap.width * scale));
    const height = Math.max(1, Math.round(bitmap.height * scale));
    const canvas = canvasOf(width, height);
    const context = canvas.getContext("2d");
    context.drawImage(bitmap, 0, 0, width, height);
    const blob = await toBlob(canvas);
    return { blob, width, height, originalSize: file.size };
  } finally {
    bitmap.close?.();
  }
}

export function photoName(file) {
  const base = (file.name || "photo").replace(/\.[^.]*$/, "");
  return `${base}.jpg`;
}
