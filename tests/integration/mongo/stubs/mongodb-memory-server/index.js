// Empty stand-in for mongodb-memory-server; see ../../package.json.
module.exports = {};
