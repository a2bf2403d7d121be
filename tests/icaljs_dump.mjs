// Reads iCalendar files with ical.js (Mozilla's parser, used by Thunderbird) and prints,
// as JSON keyed by file name, every VEVENT's UID, STATUS, SEQUENCE and its start and end:
// UTC seconds for timed events, the date for all-day ones. Each file's own VTIMEZONEs
// are the only timezone definitions used; a TZID without one is an error.
// Usage: node tests/icaljs_dump.mjs FILE...
import ICAL from "ical.js";
import { readFileSync } from "node:fs";

function moment(time, tzid) {
  if (time.isDate) {
    return { date: time.toString() };
  }
  if (tzid && tzid !== "UTC") {
    if (!time.zone || time.zone.tzid !== tzid) {
      throw new Error(`TZID ${tzid} was not resolved from the file's VTIMEZONE`);
    }
  }
  return { utc: time.toUnixTime() };
}

function read(path) {
  const root = new ICAL.Component(ICAL.parse(readFileSync(path, "utf8")));
  ICAL.TimezoneService.reset();
  for (const vtimezone of root.getAllSubcomponents("vtimezone")) {
    ICAL.TimezoneService.register(vtimezone);
  }
  return root.getAllSubcomponents("vevent").map((vevent) => {
    const event = new ICAL.Event(vevent);
    const tzid = vevent.getFirstProperty("dtstart").getParameter("tzid");
    // DTEND may be in another zone than DTSTART (in UTC, say); an end computed from a
    // DURATION is in DTSTART's.
    const dtend = vevent.getFirstProperty("dtend");
    return {
      uid: event.uid,
      status: vevent.getFirstPropertyValue("status"),
      sequence: event.sequence,
      start: moment(event.startDate, tzid),
      end: moment(event.endDate, dtend ? dtend.getParameter("tzid") : tzid),
    };
  });
}

const result = {};
for (const path of process.argv.slice(2)) {
  result[path] = read(path);
}
process.stdout.write(JSON.stringify(result));
