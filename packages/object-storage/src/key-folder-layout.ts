import { randomUUID } from 'node:crypto';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  errorCode,
  isMissing,
  pruneEmptyFolders,
  readSmallFile,
  syncDirectory,
  writeDurably,
  type StoredDescription,
} from './folder-files';
import type { ObjectInfo } from './object-store';

/**
 * The folder store's first layout, still read, updated and removed so that stores written by earlier versions
 * keep working in place: each key is a folder holding a sidecar `@object.json` (the commit point) and the bytes
 * file it names, `@<uuid>.bytes`; crashed writes left `@<uuid>.part|bytes|tmp` beside them. New objects are no
 * longer written this way (see FolderObjectStore).
 */
export const KEY_FOLDER_SIDECAR = '@object.json';
const LEFTOVER = /^@[0-9a-f-]{36}\.(part|bytes|tmp)$/;

export interface KeyFolderSidecar extends StoredDescription {
  legalHold: boolean;
  /** file name of the bytes, beside the sidecar */
  content: string;
}

export function sidecarInfo(sidecar: KeyFolderSidecar): ObjectInfo {
  return {
    key: sidecar.key,
    size: sidecar.size,
    contentType: sidecar.contentType,
    lastModified: new Date(sidecar.lastModified),
    retainUntil: sidecar.retainUntil ? new Date(sidecar.retainUntil) : null,
    legalHold: sidecar.legalHold,
    metadata: sidecar.metadata,
  };
}

/** The sidecar in a key's folder, or null when that folder holds no object. */
export async function readKeyFolderSidecar(directory: string): Promise<KeyFolderSidecar | null> {
  try {
    return JSON.parse(await readSmallFile(join(directory, KEY_FOLDER_SIDECAR))) as KeyFolderSidecar;
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

/** Replaces a key folder's sidecar (retention, legal hold): written durably, renamed into place, folder synced. */
export async function rewriteKeyFolderSidecar(directory: string, sidecar: KeyFolderSidecar): Promise<void> {
  const temporary = join(directory, `@${randomUUID()}.tmp`);
  await writeDurably(temporary, JSON.stringify(sidecar, null, 2), false);
  await rename(temporary, join(directory, KEY_FOLDER_SIDECAR));
  await syncDirectory(directory);
}

/**
 * Removes the object of a key folder: the sidecar first (durably, so the object is gone even if the rest is
 * not), then its bytes and leftovers, then the folders this emptied. The key's sub-keys stay.
 */
export async function removeKeyFolderObject(root: string, directory: string): Promise<void> {
  try {
    await rm(join(directory, KEY_FOLDER_SIDECAR));
  } catch (error) {
    if (!isMissing(error)) throw error;
    return;
  }
  await syncDirectory(directory);
  let entries;
  try {
    entries = await readdir(directory, { withFileTypes: true });
  } catch (error) {
    if (errorCode(error) === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    if (entry.isFile() && LEFTOVER.test(entry.name)) await rm(join(directory, entry.name), { force: true });
  }
  await pruneEmptyFolders(root, directory);
}
