// Empty stand-in for @push.rocks/smartdata; see ../../package.json.
module.exports = {};
