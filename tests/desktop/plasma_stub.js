// A stub of Plasma's desktop scripting API (desktops(), wallpaperPlugin,
// currentConfigGroup, writeConfig, readConfig, print) for running the scripts wallpaperd
// sends to plasmashell. State (the desktops and their config) lives in a JSON file.
// Usage: node plasma_stub.js STATE.json SCRIPT.js  -> prints what the script print()ed.
const fs = require("fs");
const vm = require("vm");
const [stateFile, scriptFile] = process.argv.slice(2);
const state = JSON.parse(fs.readFileSync(stateFile, "utf8"));
const printed = [];

function makeDesktop(d) {
  return {
    get wallpaperPlugin() { return d.plugin; },
    set wallpaperPlugin(v) { d.plugin = String(v); },
    currentConfigGroup: [],
    writeConfig(key, value) {
      const group = this.currentConfigGroup.join("/");
      (d.config[group] = d.config[group] || {})[key] = value;
    },
    readConfig(key) {
      const group = this.currentConfigGroup.join("/");
      return (d.config[group] || {})[key];
    },
  };
}

const sandbox = {
  desktops: () => state.desktops.map(makeDesktop),
  print: (value) => printed.push(String(value)),
};
vm.runInNewContext(fs.readFileSync(scriptFile, "utf8"), sandbox, { filename: "plasma-script.js" });
fs.writeFileSync(stateFile, JSON.stringify(state));
process.stdout.write(printed.join("\n"));
