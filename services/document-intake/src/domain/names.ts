/** The name a document gets from a file name: without its extension, trimmed, at most 200 characters. */
export function documentNameOf(fileName: string): string {
  const base = fileName
    .replace(/^.*[\\/]/, '')
    .replace(/\.[A-Za-z0-9]{1,5}$/, '')
    .trim();
  return (base || 'document').slice(0, 200);
}
