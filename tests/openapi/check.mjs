// check.mjs - checks docs/openapi.yaml, and answers recorded from a live
// daemon against it.
//
// Usage: node check.mjs --modules DIR --doc FILE --records FILE
//                       [--report FILE] [--no-coverage]
//
// DIR holds the node_modules install.sh made (the source tree may be
// read-only, so the packages live in the build tree). FILE of --records is
// a JSON list of answers, each {method, template, path, status, headers
// (names in lower case), body, last_event_id (the Last-Event-ID an event
// stream was asked with, if any)}, as tests/openapi/test_openapi.py
// records them.
//
// Checks, each reported as one line and in the --report JSON:
//  validity   the document is valid OpenAPI 3.1 (swagger-parser, against
//             the official schema, every $ref resolved)
//  document   the house rules: every path item's x-allow lists exactly its
//             operations; every path parameter is an Id
//             (^[A-Za-z0-9._-]{1,64}$); every operation documents 413
//  answer     for each record: its path and method are documented (a method
//             the path does not take must be 405 with Allow = x-allow); its
//             status is documented for the operation; every required header
//             of that response is present and matches its schema; its
//             Content-Type is one the response documents; its body matches
//             the schema (JSON, or each event of a text/event-stream against
//             x-event-data, x-event-name and x-event-id); a HEAD answer has
//             no body
//  coverage   every operation and every path's 405 was exercised (off with
//             --no-coverage)
// Exit status 0 when every check passed, 1 when one failed, 2 on bad usage.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const METHODS = ['get', 'head', 'put', 'post', 'delete', 'options', 'patch', 'trace'];
const ID_PATTERN = '^[A-Za-z0-9._-]{1,64}$';

function parseArgs(argv) {
  const args = { coverage: true };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-coverage') args.coverage = false;
    else if (['--modules', '--doc', '--records', '--report'].includes(a) && i + 1 < argv.length)
      args[a.slice(2)] = argv[++i];
    else throw new Error(`unknown argument ${a}`);
  }
  for (const k of ['modules', 'doc', 'records'])
    if (!args[k]) throw new Error(`--${k} is required`);
  return args;
}

function normalizeType(t) {
  return String(t || '').split(';').map((s) => s.trim().toLowerCase()).filter(Boolean).join('; ');
}

// Server-sent events as [{id, event, data, comment}], or an error string.
function parseEvents(text) {
  if (text.length > 0 && !text.endsWith('\n\n')) return 'the stream does not end with a blank line';
  const events = [];
  for (const block of text.split('\n\n')) {
    if (block === '') continue;
    const ev = {};
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const m = /^(id|event|data|retry): (.*)$/.exec(line);
      if (!m) return `not an event field: ${JSON.stringify(line)}`;
      if (m[1] in ev) return `field ${m[1]} twice in one event`;
      ev[m[1]] = m[2];
    }
    if ('retry' in ev && !/^[0-9]+$/.test(ev.retry)) return `retry ${JSON.stringify(ev.retry)} is not a number`;
    if ('data' in ev) events.push(ev);
    else if ('id' in ev || 'event' in ev) return `an event without data: ${JSON.stringify(block)}`;
  }
  return events;
}

class Checker {
  constructor(modules) {
    const require = createRequire(path.join(path.resolve(modules), 'package.json'));
    this.SwaggerParser = require('@apidevtools/swagger-parser');
    const Ajv2020 = require('ajv/dist/2020').default;
    const addFormats = require('ajv-formats').default;
    this.ajv = new Ajv2020({ strictSchema: true, strictTypes: false, strictTuples: true, strictRequired: false, allErrors: true, validateFormats: true });
    // OpenAPI's own annotation keywords inside schemas.
    this.ajv.addVocabulary(['example', 'xml', 'externalDocs', 'discriminator']);
    addFormats(this.ajv);
    this.problems = [];   // {check, index?, where, problem}
    this.cache = new Map();
  }

  fail(check, where, problem, index) {
    this.problems.push({ check, where, problem, ...(index === undefined ? {} : { index }) });
  }

  validator(schema) {
    let v = this.cache.get(schema);
    if (!v) {
      v = this.ajv.compile(schema);
      this.cache.set(schema, v);
    }
    return v;
  }

  // Errors of `value` against `schema`, as one string, or null.
  schemaErrors(schema, value) {
    let v;
    try {
      v = this.validator(schema);
    } catch (e) {
      return `the document's schema does not compile: ${e.message}`;
    }
    if (v(value)) return null;
    return this.ajv.errorsText(v.errors, { dataVar: 'body' });
  }

  async loadDocument(docPath) {
    try {
      // validate() checks against the OpenAPI 3.1 schema and dereferences.
      this.api = await this.SwaggerParser.validate(docPath);
    } catch (e) {
      this.fail('validity', docPath, e.message);
      return false;
    }
    if (!/^3\.1\.\d+$/.test(String(this.api.openapi)))
      this.fail('validity', docPath, `openapi is ${this.api.openapi}, not 3.1.x`);
    return true;
  }

  checkDocument() {
    for (const [template, item] of Object.entries(this.api.paths || {})) {
      const ops = METHODS.filter((m) => item[m]).map((m) => m.toUpperCase());
      const allow = String(item['x-allow'] || '').split(',').map((s) => s.trim()).filter(Boolean);
      if (allow.slice().sort().join() !== ops.slice().sort().join())
        this.fail('document', template, `x-allow ${JSON.stringify(item['x-allow'])} does not list exactly the operations ${ops.join(', ')}`);
      for (const m of METHODS.filter((x) => item[x])) {
        const op = item[m];
        const params = [...(item.parameters || []), ...(op.parameters || [])];
        for (const name of [...template.matchAll(/\{([^}]+)\}/g)].map((x) => x[1])) {
          const p = params.find((q) => q.in === 'path' && q.name === name);
          if (!p) this.fail('document', `${m.toUpperCase()} ${template}`, `path parameter ${name} is not declared`);
          else if (!p.required || p.schema?.type !== 'string' || p.schema?.pattern !== ID_PATTERN)
            this.fail('document', `${m.toUpperCase()} ${template}`, `path parameter ${name} is not a required string of pattern ${ID_PATTERN}`);
        }
        if (!op.responses?.['413'])
          this.fail('document', `${m.toUpperCase()} ${template}`, 'no 413: a body over the limit is 413 on every route');
      }
    }
  }

  checkHeaders(rec, response, where, index) {
    for (const [name, h] of Object.entries(response.headers || {})) {
      const value = rec.headers[name.toLowerCase()];
      if (value === undefined) {
        if (h.required) this.fail('answer', where, `header ${name} missing`, index);
        continue;
      }
      const err = h.schema ? this.schemaErrors(h.schema, value) : null;
      if (err) this.fail('answer', where, `header ${name}: ${JSON.stringify(value)}: ${err}`, index);
    }
  }

  checkBody(rec, response, where, index) {
    const content = response.content || {};
    const body = rec.body || '';
    if (rec.method === 'HEAD' || Object.keys(content).length === 0) {
      if (body.length) this.fail('answer', where, `a body where none is documented (${body.length} bytes)`, index);
      return;
    }
    const type = normalizeType(rec.headers['content-type']);
    const key = Object.keys(content).find((k) => normalizeType(k) === type);
    if (key === undefined) {
      this.fail('answer', where, `Content-Type ${JSON.stringify(rec.headers['content-type'])} is not one of ${Object.keys(content).join(' | ')}`, index);
      return;
    }
    const media = content[key];
    if (type === 'application/json') {
      let value;
      try {
        value = JSON.parse(body);
      } catch (e) {
        this.fail('answer', where, `body is not JSON: ${e.message}`, index);
        return;
      }
      const err = media.schema ? this.schemaErrors(media.schema, value) : null;
      if (err) this.fail('answer', where, `body ${body.slice(0, 200)}: ${err}`, index);
    } else if (type === 'text/event-stream') {
      this.checkEvents(body, media, rec.last_event_id, where, index);
    } else if (media.schema) {
      const err = this.schemaErrors(media.schema, body);
      if (err) this.fail('answer', where, err, index);
    }
  }

  // Each event against the media type's x-event-data, x-event-name and
  // x-event-id. Without Last-Event-ID the stream starts with an event; with
  // it, only the events after it come, and there may be none.
  checkEvents(body, media, lastEventId, where, index) {
    const events = parseEvents(body);
    if (typeof events === 'string') {
      this.fail('answer', where, `event stream: ${events}`, index);
      return;
    }
    if (events.length === 0 && lastEventId === undefined)
      this.fail('answer', where, 'event stream without an event (the current state comes first)', index);
    const dataSchema = media['x-event-data'];
    const name = media['x-event-name'] || {};
    const idRule = media['x-event-id'] || {};
    if (!dataSchema || !(name.const || name.field) || !idRule.field) {
      this.fail('document', where, 'text/event-stream without x-event-data, x-event-name or x-event-id');
      return;
    }
    let last = /^[0-9]+$/.test(String(lastEventId)) ? Number(lastEventId) : -Infinity;
    for (const ev of events) {
      let data;
      try {
        data = JSON.parse(ev.data);
      } catch (e) {
        this.fail('answer', where, `event data is not JSON: ${JSON.stringify(ev.data)}`, index);
        continue;
      }
      const err = this.schemaErrors(dataSchema, data);
      if (err) this.fail('answer', where, `event data ${ev.data.slice(0, 200)}: ${err}`, index);
      const wantName = name.const !== undefined ? name.const : data?.[name.field];
      if (ev.event !== wantName)
        this.fail('answer', where, `event name ${JSON.stringify(ev.event)}, documented ${JSON.stringify(wantName)}`, index);
      const raw = data?.[idRule.field];
      const wantId = idRule.values ? idRule.values[raw] : raw;
      const id = Number(ev.id);
      if (ev.id === undefined || id !== wantId || !(id > last))
        this.fail('answer', where, `event id ${JSON.stringify(ev.id)}: documented ${JSON.stringify(wantId)}, and after ${last}`, index);
      last = id;
    }
  }

  checkRecord(rec, index) {
    const where = `${rec.method} ${rec.template} -> ${rec.status} (${rec.path})`;
    const item = this.api.paths?.[rec.template];
    if (!item) {
      this.fail('answer', where, 'path not documented', index);
      return;
    }
    const op = item[rec.method.toLowerCase()];
    if (!op) {
      // A method the path does not take: 405 with Allow = x-allow.
      if (rec.status !== 405) {
        this.fail('answer', where, `method not documented for this path, and the answer is not 405`, index);
        return;
      }
      if (rec.headers.allow !== item['x-allow'])
        this.fail('answer', where, `Allow ${JSON.stringify(rec.headers.allow)}, documented x-allow ${JSON.stringify(item['x-allow'])}`, index);
      const response = this.api.components?.responses?.MethodNotAllowed;
      if (!response) {
        this.fail('document', where, 'components.responses.MethodNotAllowed missing');
        return;
      }
      this.checkHeaders(rec, response, where, index);
      this.checkBody(rec, response, where, index);
      return;
    }
    const response = op.responses?.[String(rec.status)] || op.responses?.default;
    if (!response) {
      this.fail('answer', where, `status ${rec.status} not documented (documented: ${Object.keys(op.responses || {}).join(', ')})`, index);
      return;
    }
    this.checkHeaders(rec, response, where, index);
    this.checkBody(rec, response, where, index);
  }

  coverage(records) {
    const seen = new Set(records.map((r) => `${r.method} ${r.template}`));
    const statuses = new Map();
    for (const r of records) {
      const k = `${r.method} ${r.template}`;
      if (!statuses.has(k)) statuses.set(k, new Set());
      statuses.get(k).add(String(r.status));
    }
    const unexercised = {};
    for (const [template, item] of Object.entries(this.api.paths || {})) {
      const ops = METHODS.filter((m) => item[m]);
      for (const m of ops) {
        const k = `${m.toUpperCase()} ${template}`;
        if (!seen.has(k)) this.fail('coverage', k, 'no answer of this operation was checked');
        const missing = Object.keys(item[m].responses || {}).filter((s) => !statuses.get(k)?.has(s));
        if (missing.length) unexercised[k] = missing;
      }
      const took405 = records.some((r) => r.template === template && r.status === 405 &&
        !ops.includes(r.method.toLowerCase()));
      if (!took405) this.fail('coverage', template, 'no method it does not take was tried (405)');
    }
    return unexercised;
  }
}

async function main() {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`check.mjs: ${e.message}`);
    process.exit(2);
  }
  const c = new Checker(args.modules);
  const records = JSON.parse(readFileSync(args.records, 'utf8'));
  let unexercised = {};
  if (await c.loadDocument(args.doc)) {
    c.checkDocument();
    records.forEach((r, i) => c.checkRecord(r, i));
    if (args.coverage) unexercised = c.coverage(records);
  }
  for (const p of c.problems)
    console.log(`MISMATCH [${p.check}] ${p.where}${p.index === undefined ? '' : ` (record ${p.index})`}: ${p.problem}`);
  for (const [k, s] of Object.entries(unexercised))
    console.log(`note: ${k}: documented but not provoked by the test: ${s.join(', ')}`);
  console.log(`check.mjs: ${records.length} answers checked against ${args.doc}: ${c.problems.length} mismatches`);
  if (args.report)
    writeFileSync(args.report, JSON.stringify({ problems: c.problems, unexercised }, null, 1));
  process.exit(c.problems.length ? 1 : 0);
}

main().catch((e) => {
  console.error(`check.mjs: ${e.stack || e}`);
  process.exit(2);
});
