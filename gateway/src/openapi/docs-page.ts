/**
 * /openapi.json and the documentation page that renders it (/docs). The page is three static files in
 * gateway/docs-page, served by the gateway itself: it works offline and loads nothing from elsewhere.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type Router } from 'express';

/** gateway/docs-page, from src/openapi (tests) and dist/openapi (the built gateway) alike */
export const DOCS_PAGE_DIR = path.resolve(__dirname, '..', '..', 'docs-page');

/** Served outside the route table, to anyone: the document and its page. */
export const DOCUMENTATION_PATHS = ['/openapi.json', '/docs', '/docs/docs.js', '/docs/docs.css'] as const;

const ASSETS = {
  '/docs': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/docs/docs.js': { file: 'docs.js', type: 'text/javascript; charset=utf-8' },
  '/docs/docs.css': { file: 'docs.css', type: 'text/css; charset=utf-8' },
};

const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'";

export function documentationRouter(document: Record<string, unknown>): Router {
  const router = express.Router();
  const documentJson = JSON.stringify(document);
  router.get('/openapi.json', (_request, response) => {
    response.set('cache-control', 'no-cache').type('application/json').send(documentJson);
  });
  for (const [route, asset] of Object.entries(ASSETS)) {
    const content = readFileSync(path.join(DOCS_PAGE_DIR, asset.file));
    router.get(route, (_request, response) => {
      response
        .set({ 'content-security-policy': CONTENT_SECURITY_POLICY, 'cache-control': 'no-cache' })
        .type(asset.type)
        .send(content);
    });
  }
  return router;
}
