// server.js - starts CongoDB, a MongoDB wire-protocol server in JavaScript
// (from @push.rocks/smartmongo, see package.json), for the integration tests.
//
// Usage: node server.js --modules DIR/node_modules [--port N] [--host H]
//                       [--dump FILE [--journal FILE]]
//
// Port 0 takes a free port. Once listening it prints one line to stdout,
//   {"ready":true,"port":N,"uri":"mongodb://H:N"}
// and it exits 0 on SIGTERM or SIGINT. Data lives in memory, and without
// --dump a restart starts empty; with --dump alone a graceful stop keeps it,
// and with --journal as well a SIGKILL keeps it too.
//
// THE DUMP (--dump FILE), for tests that stop and start the server. CongoDB
// 2.2.0 has two ways to keep data on disk and neither fits: its
// FileStorageAdapter reads and rewrites a collection's whole JSON file on
// every write (slow under a crowd, and two writes to one collection that
// interleave across its awaits can lose one), and its MemoryStorageAdapter's
// persistPath writes plain JSON, which keeps no BSON type but ObjectId and
// none of the shim's partial unique indexes. So this launcher does it: on
// SIGTERM or SIGINT, once the server has closed every connection, all
// databases, collections, indexes and the shim's unique indexes go to FILE
// as canonical Extended JSON (bson's EJSON: types kept), written to
// FILE.tmp, fsynced and renamed over FILE; at start, FILE, if it exists, is
// loaded before the port opens. Writes cost nothing extra. This models a
// server stopped and started gracefully: after SIGKILL, what changed since
// the last graceful stop is lost, so kill tests need the journal as well.
//
// THE JOURNAL (--journal FILE, only with --dump), for tests that SIGKILL the
// server: a journaled MongoDB keeps every acknowledged write across a crash,
// and so does this launcher with a write-ahead log. Every mutating call of
// the storage adapter - insertOne, updateById, deleteById (insertMany and
// deleteByIds call those through `this.`), dropDatabase, dropCollection,
// renameCollection, saveIndex, dropIndex, and createCollection when the
// collection does not exist yet (CongoDB calls it before every insert) -
// and every remember and forget of the shim's unique indexes (below) is
// appended to FILE as one line of canonical Extended JSON, {"op":NAME,
// "args":[...]}, and fdatasync'ed BEFORE it is applied, in the same
// synchronous step of the event loop as the shim's check and the write: no
// reply can leave before its writes are on disk, the journal's order is the
// order the writes were applied in, and no other command slips between the
// record and its write. A record whose operation then fails (a duplicate key
// refused by the shim, a second insert of one _id, a rename of a missing
// collection) fails the same way when replayed, because the replay applies
// the same calls in the same order to the same state, and is ignored. At
// start: the dump is loaded, then the journal is replayed in order through
// the same shim-checked functions, then the port opens. A crash in the
// middle of an append leaves a torn last line (no newline): it was never
// acknowledged, so it is ignored and cut off before anything is appended. A
// graceful stop writes the dump, then empties the journal. The journal's
// first line names it with a random id, and the dump records the id of the
// journal it already holds, so that a crash between the two (the dump
// renamed into place, the journal not yet emptied) does not apply that
// journal twice. Cost: an fdatasync per write (a few milliseconds on ext4),
// on CongoDB's one thread. Not covered: a multi-document transaction's
// writes are journaled one by one, so a crash in its commit keeps a part of
// it (flashsaled uses none); the oplog is not kept (as without the journal).
//
// THE SHIM. CongoDB 2.2.0 records unique indexes but does not enforce them:
// a second document with the same unique key is accepted on insert and on
// update. The storage plugin's one-booking-per-user rule and its booking_id
// conflict both rest on MongoDB refusing such writes with error 11000, so
// this launcher enforces them the way MongoDB documents it:
//  - createIndexes with unique: true (and an optional
//    partialFilterExpression) is remembered per namespace; drop,
//    dropDatabase and dropIndexes forget it;
//  - every document the server is about to store (the storage adapter's
//    insertOne and updateById, which every insert, update, findAndModify and
//    upsert goes through) is checked against those indexes first: when
//    another document of the collection covered by the same index (matching
//    its partial filter, if any) has the same key, the write throws
//    {code: 11000, codeName: "DuplicateKey", errmsg: "E11000 duplicate key
//    error collection: DB.COLL index: NAME dup key: {...}"}, which CongoDB
//    turns into a write error (insert, update) or a command error
//    (findAndModify), as MongoDB answers.
// The check and the write run in one synchronous step of the event loop, so
// no other command can slip between them. Not covered (unused by flashsaled):
// refusing createIndexes over existing duplicates, sparse indexes, collation.
import { pathToFileURL } from 'node:url';
import fs from 'node:fs';
import path from 'node:path';

function parseArgs(argv) {
    const args = { port: 0, host: '127.0.0.1', modules: null, dump: null,
                   journal: null };
    for (let i = 0; i < argv.length; i += 2) {
        const [key, value] = [argv[i], argv[i + 1]];
        if (value === undefined) throw new Error(`${key} needs a value`);
        if (key === '--port') args.port = Number(value);
        else if (key === '--host') args.host = value;
        else if (key === '--modules') args.modules = value;
        else if (key === '--dump') args.dump = value;
        else if (key === '--journal') args.journal = value;
        else throw new Error(`unknown argument ${key}`);
    }
    if (!args.modules) throw new Error('--modules DIR/node_modules is required');
    // The dump is the journal's checkpoint: a graceful stop empties the
    // journal only once the dump holds everything.
    if (args.journal && !args.dump) throw new Error('--journal needs --dump');
    if (!Number.isInteger(args.port) || args.port < 0 || args.port > 65535)
        throw new Error('--port must be 0 to 65535');
    return args;
}

// ---- the unique-index shim ------------------------------------------------

function getPath(doc, field) {
    let value = doc;
    for (const part of field.split('.')) {
        if (value === null || typeof value !== 'object') return null;
        value = value[part];
    }
    return value === undefined ? null : value;
}

function installUniqueShim(server, QueryEngine) {
    const storage = server.getStorage();
    const router = server.commandRouter;
    const unique = new Map();  // "db.coll" -> [{name, fields, partial}]

    const covers = (index, doc) =>
        !index.partial || QueryEngine.filter([doc], index.partial).length === 1;
    const keyOf = (index, doc) =>
        JSON.stringify(index.fields.map((f) => getPath(doc, f)));

    // Per unique index, key -> hex _id of the document holding it. Entries
    // are checked against the live document before they count, so a
    // document deleted or changed by any path (even one the shim does not
    // see) only leaves a stale entry that is dropped on first use. A lookup
    // instead of a scan keeps every write constant-time (the scan made the
    // benchmarks measure this shim, not the daemon).
    const owners = new Map();  // "db.coll\0index" -> Map(key -> idHex)
    const ownersOf = (ns, index) => {
        const id = `${ns}\0${index.name}`;
        if (!owners.has(id)) owners.set(id, new Map());
        return owners.get(id);
    };

    function check(db, coll, doc, selfId) {
        const ns = `${db}.${coll}`;
        const indexes = unique.get(ns);
        const docs = storage.databases?.get(db)?.get(coll);
        if (!indexes || !docs) return;
        const self = selfId ? selfId.toHexString() : doc._id?.toHexString?.();
        for (const index of indexes) {
            if (!covers(index, doc)) continue;
            const key = keyOf(index, doc);
            const map = ownersOf(ns, index);
            const owner = map.get(key);
            if (!owner || owner === self) continue;
            const other = docs.get(owner);
            if (!other || keyOf(index, other) !== key || !covers(index, other)) {
                map.delete(key);  // stale
                continue;
            }
            const dup = Object.fromEntries(
                index.fields.map((f) => [f, getPath(doc, f)]));
            const err = new Error(`E11000 duplicate key error collection: ` +
                `${db}.${coll} index: ${index.name} dup key: ` +
                JSON.stringify(dup));
            err.code = 11000;
            err.codeName = 'DuplicateKey';
            throw err;
        }
    }

    // Claims the document's keys; called before the write is awaited, so
    // two interleaved writes of one key cannot both pass check().
    function claim(db, coll, doc, id) {
        const ns = `${db}.${coll}`;
        if (!id) return;
        for (const index of unique.get(ns) || [])
            if (covers(index, doc))
                ownersOf(ns, index).set(keyOf(index, doc), id.toHexString());
    }

    const insertOne = storage.insertOne.bind(storage);
    storage.insertOne = (db, coll, doc) => {
        check(db, coll, doc, null);
        claim(db, coll, doc, doc._id);
        return insertOne(db, coll, doc);
    };
    const updateById = storage.updateById.bind(storage);
    storage.updateById = (db, coll, id, doc) => {
        check(db, coll, doc, id);
        claim(db, coll, doc, id);
        return updateById(db, coll, id, doc);
    };

    function remember(db, cmd) {
        const ns = `${db}.${cmd.createIndexes}`;
        const list = unique.get(ns) || [];
        for (const spec of cmd.indexes || []) {
            if (!spec.unique) continue;
            const name = spec.name || Object.entries(spec.key)
                .map(([f, d]) => `${f}_${d}`).join('_');
            if (list.some((i) => i.name === name)) continue;
            list.push({ name, fields: Object.keys(spec.key),
                        partial: spec.partialFilterExpression || null });
        }
        unique.set(ns, list);
        // Documents written before the index existed hold keys too.
        const docs = storage.databases?.get(db)?.get(cmd.createIndexes);
        for (const doc of docs ? docs.values() : [])
            claim(db, cmd.createIndexes, doc, doc._id);
    }

    function forget(db, cmd) {
        if (cmd.dropDatabase !== undefined) {
            for (const ns of [...unique.keys()])
                if (ns.startsWith(`${db}.`)) unique.delete(ns);
        } else if (cmd.drop !== undefined) {
            unique.delete(`${db}.${cmd.drop}`);
        } else if (cmd.dropIndexes !== undefined) {
            const ns = `${db}.${cmd.dropIndexes}`;
            const keep = cmd.index === '*' ? [] : (unique.get(ns) || [])
                .filter((i) => i.name !== cmd.index);
            unique.set(ns, keep);
        }
    }

    // Called through `api`, so that the journal can wrap them.
    const route = router.route.bind(router);
    router.route = async (parsed) => {
        const reply = await route(parsed);
        if (reply && reply.ok === 1) {
            if (parsed.commandName === 'createIndexes')
                api.remember(parsed.database, parsed.command);
            else if (['drop', 'dropDatabase', 'dropIndexes']
                     .includes(parsed.commandName))
                api.forget(parsed.database, parsed.command);
        }
        return reply;
    };

    // remember and forget for the journal; for the dump, the unique indexes
    // as [ns, list] pairs, and putting them back (with the keys of the
    // documents already loaded).
    const api = {
        remember,
        forget,
        uniqueIndexes: () => [...unique.entries()],
        restoreUnique(entries) {
            for (const [ns, list] of entries) {
                unique.set(ns, list);
                const dot = ns.indexOf('.');
                const [db, coll] = [ns.slice(0, dot), ns.slice(dot + 1)];
                const docs = storage.databases?.get(db)?.get(coll);
                for (const doc of docs ? docs.values() : [])
                    claim(db, coll, doc, doc._id);
            }
        },
    };
    return api;
}

// ---- the dump (see the header) ----------------------------------------------

// `journal`: the id of the journal whose records the dump already holds.
function snapshot(storage, shim, journal) {
    const databases = {};
    const indexes = {};
    for (const [db, colls] of storage.databases) {
        databases[db] = {};
        for (const [coll, docs] of colls)
            databases[db][coll] = [...docs.values()];
    }
    for (const [db, colls] of storage.indexes)
        indexes[db] = Object.fromEntries(colls);
    return { databases, indexes, unique: shim.uniqueIndexes(), journal };
}

function writeDump(file, EJSON, storage, shim, journal) {
    const text = EJSON.stringify(snapshot(storage, shim, journal),
                                 { relaxed: false });
    const tmp = `${file}.tmp`;
    const fd = fs.openSync(tmp, 'w');
    try {
        fs.writeSync(fd, text);
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
}

// Relaxed parsing gives numbers back as JS numbers, as CongoDB holds them
// (its BSON decoding promotes int32, int64 and double to numbers). Returns
// the id of the journal the dump holds (null if none).
function loadDump(file, EJSON, storage, shim) {
    if (!fs.existsSync(file)) return null;
    const data = EJSON.parse(fs.readFileSync(file, 'utf8'), { relaxed: true });
    for (const [db, colls] of Object.entries(data.databases)) {
        const byColl = new Map();
        for (const [coll, docs] of Object.entries(colls))
            byColl.set(coll, new Map(docs.map((d) => [d._id.toHexString(), d])));
        storage.databases.set(db, byColl);
    }
    for (const [db, colls] of Object.entries(data.indexes))
        storage.indexes.set(db, new Map(Object.entries(colls)));
    shim.restoreUnique(data.unique);
    return data.journal || null;
}

// ---- the journal (see the header) -------------------------------------------

// The storage adapter's mutating calls; insertMany and deleteByIds reach
// insertOne and deleteById through `this.`, so through the wrappers.
const JOURNALED = ['insertOne', 'updateById', 'deleteById', 'dropDatabase',
                   'createCollection', 'dropCollection', 'renameCollection',
                   'saveIndex', 'dropIndex'];

// What the shim's remember and forget read of a command (not its lsid,
// $clusterTime and the like).
function commandFields(cmd) {
    const keep = ['createIndexes', 'indexes', 'drop', 'dropDatabase',
                  'dropIndexes', 'index'];
    return Object.fromEntries(keep.filter((k) => cmd[k] !== undefined)
        .map((k) => [k, cmd[k]]));
}

function writeAll(fd, text) {
    const buf = Buffer.from(text, 'utf8');
    for (let off = 0; off < buf.length;)
        off += fs.writeSync(fd, buf, off, buf.length - off);
}

function fsyncDir(file) {
    const fd = fs.openSync(path.dirname(path.resolve(file)), 'r');
    try {
        fs.fsyncSync(fd);
    } finally {
        fs.closeSync(fd);
    }
}

class Journal {
    constructor(file, EJSON) {
        this.file = file;
        this.EJSON = EJSON;
        this.id = null;
        this.replaying = false;
        this.fd = null;
    }

    // Reads what the last run left: {id, records}, id null when there is no
    // whole header line. A torn last line is cut off the file; a line that
    // does not parse anywhere else is corruption, and the start fails.
    read() {
        const buf = fs.existsSync(this.file) ? fs.readFileSync(this.file)
                                             : Buffer.alloc(0);
        const end = buf.lastIndexOf(0x0a) + 1;  // 0 when no whole line
        this.fd = fs.openSync(this.file, 'a');
        if (end < buf.length) {
            process.stderr.write(`server.js: journal ${this.file}: torn last ` +
                `line of ${buf.length - end} bytes ignored\n`);
            fs.ftruncateSync(this.fd, end);
            fs.fdatasyncSync(this.fd);
        }
        const lines = buf.subarray(0, end).toString('utf8').split('\n');
        lines.pop();  // after the last newline
        if (lines.length === 0) return { id: null, records: [] };
        const parse = (line, n) => {
            try {
                return this.EJSON.parse(line, { relaxed: true });
            } catch (err) {
                throw new Error(`journal ${this.file} line ${n + 1}: ${err}`);
            }
        };
        const header = parse(lines[0], 0);
        if (typeof header.journal !== 'string')
            throw new Error(`journal ${this.file}: no header line`);
        return { id: header.journal,
                 records: lines.slice(1).map((l, i) => parse(l, i + 1)) };
    }

    // Empties the journal and names it afresh.
    fresh() {
        this.id = Math.random().toString(16).slice(2) +
            Date.now().toString(16);
        fs.ftruncateSync(this.fd, 0);
        writeAll(this.fd, JSON.stringify({ journal: this.id }) + '\n');
        fs.fdatasyncSync(this.fd);
        fsyncDir(this.file);
    }

    // Write-ahead: the record is on disk before the caller applies it.
    append(op, args) {
        if (this.fd === null || this.replaying) return;
        writeAll(this.fd, this.EJSON.stringify({ op, args },
                                               { relaxed: false }) + '\n');
        fs.fdatasyncSync(this.fd);
    }

    // After a graceful stop's dump, which holds all of it.
    empty() {
        if (this.fd === null) return;
        fs.ftruncateSync(this.fd, 0);
        fs.fdatasyncSync(this.fd);
        fs.closeSync(this.fd);
        this.fd = null;
    }
}

// Wraps the mutating calls (already shim-checked) and the shim's remember
// and forget so that each is journaled first; returns the unwrapped ones,
// by name, for the replay.
function installJournal(storage, shim, journal, ObjectId) {
    const apply = {};
    for (const name of JOURNALED) {
        const inner = storage[name].bind(storage);
        apply[name] = inner;
        storage[name] = (...args) => {
            if (name === 'createCollection' &&
                storage.databases.get(args[0])?.has(args[1]))
                return inner(...args);  // a no-op: nothing to keep
            // The adapter would make up an _id the replay could not repeat.
            if (name === 'insertOne' && args[2] && args[2]._id == null)
                args[2]._id = new ObjectId();
            journal.append(name, args);
            return inner(...args);
        };
    }
    for (const name of ['remember', 'forget']) {
        const inner = shim[name];
        apply[name] = inner;
        shim[name] = (db, cmd) => {
            journal.append(name, [db, commandFields(cmd)]);
            return inner(db, cmd);
        };
    }
    return apply;
}

// Replays the journal the last run left, unless the dump already holds it
// (`covered`), then appends to it (or to a fresh one). Returns counts.
async function replayJournal(journal, apply, covered) {
    const { id, records } = journal.read();
    const counts = { records: records.length, applied: 0, failed: 0 };
    if (id === null || id === covered) {
        journal.fresh();
        return { ...counts, skipped: id !== null };
    }
    journal.replaying = true;
    try {
        for (const { op, args } of records) {
            if (!Object.hasOwn(apply, op))
                throw new Error(`journal ${journal.file}: unknown op ${op}`);
            try {
                await apply[op](...args);
                counts.applied += 1;
            } catch {
                counts.failed += 1;  // failed when first applied, too
            }
        }
    } finally {
        journal.replaying = false;
    }
    journal.id = id;
    return { ...counts, skipped: false };
}

// ---- main -------------------------------------------------------------------

async function main() {
    const args = parseArgs(process.argv.slice(2));
    const entry = path.join(path.resolve(args.modules), '@push.rocks',
                            'smartmongo', 'dist_ts', 'congodb', 'index.js');
    // The package's main module reaches for a real mongod; the wire server
    // lives on its own under dist_ts/congodb/.
    const congo = await import(pathToFileURL(entry).href);
    // The same module file CongoDB imports, so ObjectIds are its own class.
    const { EJSON, ObjectId } = await import(pathToFileURL(path.join(
        path.resolve(args.modules), 'bson', 'lib', 'bson.node.mjs')).href);
    const server = new congo.CongoServer({ port: args.port, host: args.host });
    const storage = server.getStorage();
    const shim = installUniqueShim(server, congo.QueryEngine);
    const journal = args.journal ? new Journal(args.journal, EJSON) : null;
    const apply = journal && installJournal(storage, shim, journal, ObjectId);
    const covered = args.dump ? loadDump(args.dump, EJSON, storage, shim)
                              : null;
    if (journal) {
        const r = await replayJournal(journal, apply, covered);
        if (r.records)
            process.stderr.write(`server.js: journal ${args.journal}: ` +
                (r.skipped ? `${r.records} records already in the dump\n`
                 : `${r.applied} records replayed, ${r.failed} failed as ` +
                   `when first applied\n`));
    }
    // After the replay (a dump written from half of it, then the journal
    // emptied, would lose the rest), before the ready line: a SIGTERM right
    // after it must find the handler (without one, node dies at once and
    // the dump is never written).
    const stop = async () => {
        await server.stop();
        if (args.dump)
            writeDump(args.dump, EJSON, storage, shim, journal?.id ?? null);
        if (journal) journal.empty();
        process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    await server.start();
    const port = server.server.address().port;
    process.stdout.write(JSON.stringify({
        ready: true, port, uri: `mongodb://${args.host}:${port}`,
    }) + '\n');
}

main().catch((err) => {
    process.stderr.write(`server.js: ${err.stack || err}\n`);
    process.exit(1);
});
