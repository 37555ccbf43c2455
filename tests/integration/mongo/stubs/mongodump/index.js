// Empty stand-in for @push.rocks/mongodump; see ../../package.json.
module.exports = {};
