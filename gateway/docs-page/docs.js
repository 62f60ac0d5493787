// Renders the gateway's OpenAPI document as a readable page: operations by tag, their parameters,
// bodies and responses, and the shared schemas. Plain DOM with textContent only, so nothing in the
// document can inject markup; no external scripts (the Content-Security-Policy forbids them anyway).
'use strict';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** Text with `code` spans, the only markup the descriptions use. */
function prose(text) {
  return el(
    'p',
    {},
    String(text || '')
      .split(/`([^`]*)`/)
      .map((part, index) => (index % 2 ? el('code', {}, part) : part)),
  );
}

function refName(ref) {
  return ref.replace('#/components/schemas/', '');
}

function typeLabel(schema) {
  if (!schema || typeof schema !== 'object') return 'any';
  if (schema.$ref) return refName(schema.$ref);
  if (schema.enum) return `one of ${schema.enum.map((value) => JSON.stringify(value)).join(', ')}`;
  if (schema.const !== undefined) return `= ${JSON.stringify(schema.const)}`;
  const types = [].concat(schema.type || []);
  if (types.includes('array')) return `array of ${typeLabel(schema.items)}`;
  let label =
    types.join(' | ') || (schema.oneOf ? 'one of' : schema.anyOf ? 'any of' : schema.allOf ? 'all of' : 'any');
  if (schema.format) label += ` (${schema.format})`;
  if (schema.contentMediaType) label += ` (${schema.contentMediaType})`;
  return label;
}

function constraints(schema) {
  const notes = [];
  for (const key of ['minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems', 'pattern', 'default']) {
    if (schema[key] !== undefined) notes.push(`${key} ${JSON.stringify(schema[key])}`);
  }
  if (schema.additionalProperties === false) notes.push('no other properties');
  return notes.length ? el('span', { class: 'muted' }, ` — ${notes.join(', ')}`) : null;
}

function schemaView(schema, depth) {
  depth = depth || 0;
  const label =
    schema && schema.$ref
      ? el('a', { href: `#schema-${refName(schema.$ref)}` }, refName(schema.$ref))
      : el('span', {}, typeLabel(schema));
  const parts = [label];
  if (!schema || schema.$ref || depth > 6) return el('div', { class: 'schema' }, parts);
  parts.push(constraints(schema));
  if (schema.description) parts.push(el('div', { class: 'muted' }, schema.description));
  const children = [];
  const required = new Set(schema.required || []);
  for (const [name, property] of Object.entries(schema.properties || {})) {
    children.push(
      el(
        'li',
        {},
        el('strong', {}, name),
        required.has(name) ? el('span', { class: 'required' }, ' *') : null,
        ': ',
        schemaView(property, depth + 1),
      ),
    );
  }
  const itemSchema = schema.items && !schema.items.$ref && schema.items.properties ? schema.items : null;
  if (itemSchema) children.push(el('li', {}, 'each item: ', schemaView(itemSchema, depth + 1)));
  for (const key of ['oneOf', 'anyOf', 'allOf']) {
    for (const option of schema[key] || []) children.push(el('li', {}, `${key}: `, schemaView(option, depth + 1)));
  }
  if (children.length) parts.push(el('ul', {}, children));
  return el('div', { class: 'schema' }, parts);
}

function parametersTable(parameters, components) {
  const resolved = parameters.map((parameter) =>
    parameter.$ref ? components.parameters[parameter.$ref.replace('#/components/parameters/', '')] : parameter,
  );
  if (!resolved.length) return null;
  return [
    el('h4', {}, 'Parameters'),
    el(
      'table',
      {},
      el('tr', {}, el('th', {}, 'name'), el('th', {}, 'in'), el('th', {}, 'type'), el('th', {}, 'description')),
      resolved.map((parameter) =>
        el(
          'tr',
          {},
          el(
            'td',
            {},
            el('code', {}, parameter.name),
            parameter.required ? el('span', { class: 'required' }, ' *') : null,
          ),
          el('td', {}, parameter.in),
          el('td', {}, schemaView(parameter.schema)),
          el('td', {}, parameter.description || ''),
        ),
      ),
    ),
  ];
}

function contentView(content) {
  return Object.entries(content || {}).map(([type, media]) =>
    el('div', {}, el('span', { class: 'muted' }, type), schemaView(media.schema)),
  );
}

function operationView(path, method, operation, components) {
  const badges = [
    operation.security && operation.security.length
      ? `needs ${operation['x-permission'] || 'authentication'}`
      : 'public',
  ];
  if (operation['x-idempotency-key']) badges.push('accepts Idempotency-Key');
  else if (operation['x-mutates']) badges.push('no Idempotency-Key');
  if (operation['x-streaming']) badges.push(`streamed ${operation['x-streaming']}`);
  const responses = Object.entries(operation.responses || {});
  return el(
    'section',
    {
      class: 'operation',
      id: operation.operationId,
      'data-search': [
        path,
        method,
        operation.summary,
        operation.operationId,
        (operation.tags || []).join(' '),
        operation['x-permission'] || '',
      ]
        .join(' ')
        .toLowerCase(),
    },
    el('div', {}, el('span', { class: `method ${method}` }, method), el('span', { class: 'path' }, path)),
    el('h3', {}, operation.summary || operation.operationId),
    el(
      'div',
      { class: 'badges' },
      badges.map((badge) => el('span', {}, badge)),
      el('span', {}, `operationId ${operation.operationId}`),
    ),
    operation.description ? prose(operation.description) : null,
    parametersTable(operation.parameters || [], components),
    operation.requestBody
      ? [
          el('h4', {}, 'Request body'),
          operation.requestBody.description ? prose(operation.requestBody.description) : null,
          contentView(operation.requestBody.content),
        ]
      : null,
    el('h4', {}, 'Responses'),
    el(
      'table',
      {},
      responses.map(([status, response]) =>
        el(
          'tr',
          {},
          el('td', {}, el('strong', {}, status)),
          el('td', {}, response.description, contentView(response.content)),
        ),
      ),
    ),
  );
}

function render(document_) {
  const components = document_.components || {};
  document.title = document_.info.title;
  document.getElementById('title').textContent = document_.info.title;
  document.getElementById('version').textContent = `version ${document_.info.version} · OpenAPI ${document_.openapi}`;
  document.getElementById('description').replaceChildren(
    ...String(document_.info.description || '')
      .split('\n\n')
      .map(prose),
  );

  const byTag = new Map();
  for (const [path, item] of Object.entries(document_.paths || {})) {
    for (const method of METHODS) {
      if (!item[method]) continue;
      const tag = (item[method].tags || ['other'])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push({ path, method, operation: item[method] });
    }
  }
  const main = document.getElementById('operations');
  const nav = document.getElementById('nav');
  main.replaceChildren();
  nav.replaceChildren();
  for (const [tag, operations] of [...byTag].sort(([a], [b]) => a.localeCompare(b))) {
    main.append(el('h2', {}, tag));
    nav.append(el('h3', {}, tag));
    for (const { path, method, operation } of operations) {
      main.append(operationView(path, method, operation, components));
      nav.append(el('a', { href: `#${operation.operationId}` }, `${method.toUpperCase()} ${path}`));
    }
  }
  const webhooks = Object.entries(document_.webhooks || {});
  if (webhooks.length > 0) {
    // requests the platform sends to a subscriber's URL, named by event type
    main.append(el('h2', {}, 'Webhooks (sent to your URL)'));
    nav.append(el('h3', {}, 'webhooks sent'));
    for (const [name, item] of webhooks) {
      main.append(operationView(name, 'post', item.post, components));
      nav.append(el('a', { href: `#${item.post.operationId}` }, `POST ${name}`));
    }
  }
  main.append(el('h2', {}, 'Schemas'));
  for (const [name, schema] of Object.entries(components.schemas || {})) {
    main.append(
      el(
        'section',
        { class: 'operation', id: `schema-${name}`, 'data-search': name.toLowerCase() },
        el('h3', {}, name),
        schemaView(schema),
      ),
    );
  }
}

function applyFilter(text) {
  const needle = text.trim().toLowerCase();
  for (const section of document.querySelectorAll('section.operation')) {
    section.hidden = needle !== '' && !section.dataset.search.includes(needle);
  }
}

document.addEventListener('DOMContentLoaded', () => {
  document.getElementById('filter').addEventListener('input', (event) => applyFilter(event.target.value));
  fetch('/openapi.json')
    .then((response) => {
      if (!response.ok) throw new Error(`the gateway answered ${response.status}`);
      return response.json();
    })
    .then(render)
    .catch((error) => {
      document
        .getElementById('operations')
        .replaceChildren(el('p', {}, `The API description could not be loaded: ${error.message}`));
    });
});
