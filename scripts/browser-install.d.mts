/** The Chromium executable the viewer's browser tests launch, or undefined when there is none. */
export function findChromium(): string | undefined;
