// server.js - starts CongoDB, a MongoDB wire-protocol server in JavaScript
// (from @push.rocks/smartmongo, see package.json), for the integration tests.
//
// Usage: node server.js --modules DIR/node_modules [--port N] [--host H]
//                       [--dump FILE]
//
// Port 0 takes a free port. Once listening it prints one line to stdout,
//   {"ready":true,"port":N,"uri":"mongodb://H:N"}
// and it exits 0 on SIGTERM or SIGINT. Data lives in memory, and without
// --dump a restart starts empty.
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
// the last graceful stop is lost, so kill tests must not use it.
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
    const args = { port: 0, host: '127.0.0.1', modules: null, dump: null };
    for (let i = 0; i < argv.length; i += 2) {
        const [key, value] = [argv[i], argv[i + 1]];
        if (value === undefined) throw new Error(`${key} needs a value`);
        if (key === '--port') args.port = Number(value);
        else if (key === '--host') args.host = value;
        else if (key === '--modules') args.modules = value;
        else if (key === '--dump') args.dump = value;
        else throw new Error(`unknown argument ${key}`);
    }
    if (!args.modules) throw new Error('--modules DIR/node_modules is required');
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

    const route = router.route.bind(router);
    router.route = async (parsed) => {
        const reply = await route(parsed);
        if (reply && reply.ok === 1) {
            if (parsed.commandName === 'createIndexes')
                remember(parsed.database, parsed.command);
            else if (['drop', 'dropDatabase', 'dropIndexes']
                     .includes(parsed.commandName))
                forget(parsed.database, parsed.command);
        }
        return reply;
    };

    // For the dump: the unique indexes as [ns, list] pairs, and putting
    // them back (with the keys of the documents already loaded).
    return {
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
}

// ---- the dump (see the header) ----------------------------------------------

function snapshot(storage, shim) {
    const databases = {};
    const indexes = {};
    for (const [db, colls] of storage.databases) {
        databases[db] = {};
        for (const [coll, docs] of colls)
            databases[db][coll] = [...docs.values()];
    }
    for (const [db, colls] of storage.indexes)
        indexes[db] = Object.fromEntries(colls);
    return { databases, indexes, unique: shim.uniqueIndexes() };
}

function writeDump(file, EJSON, storage, shim) {
    const text = EJSON.stringify(snapshot(storage, shim), { relaxed: false });
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
// (its BSON decoding promotes int32, int64 and double to numbers).
function loadDump(file, EJSON, storage, shim) {
    if (!fs.existsSync(file)) return;
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
    const { EJSON } = await import(pathToFileURL(path.join(
        path.resolve(args.modules), 'bson', 'lib', 'bson.node.mjs')).href);
    const server = new congo.CongoServer({ port: args.port, host: args.host });
    const shim = installUniqueShim(server, congo.QueryEngine);
    if (args.dump) loadDump(args.dump, EJSON, server.getStorage(), shim);
    // Before the ready line: a SIGTERM right after it must find the handler
    // (without one, node dies at once and the dump is never written).
    const stop = async () => {
        await server.stop();
        if (args.dump) writeDump(args.dump, EJSON, server.getStorage(), shim);
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
