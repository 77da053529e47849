"""The demo's sample leads: synthetic but realistic, the same every time (a fixed seed).

`python -m leadsync.demo.sample` rewrites ``sample_leads.csv`` beside this file.
About one person in twenty fills in a second form with another form id: the
demo then shows two records merging into one lead (progressive profiling).
"""

from __future__ import annotations

import csv
import io
import random
import unicodedata
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from leadsync.mapping.lead import iso_utc

SEED = 20261123
# The sample is written as of this day; a copy for a demo is moved to the day it runs.
SAMPLE_DAY = date(2026, 11, 23)
SUBMITTED_AT = "Submitted At"
COLUMNS = [
    "Form ID",
    "Email",
    "First Name",
    "Last Name",
    "Company",
    "Job Title",
    "Phone",
    "Country",
    "Lead Source",
    "Employees",
    "Email Opt Out",
    "Do Not Call",
    "Marketing Consent",
    "Submitted At",
]

FIRST = [
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Mateo",
    "Sofia",
    "Lucas",
    "Mia",
    "Arjun",
    "Priya",
    "Chen",
    "Yuki",
    "Fatima",
    "Omar",
    "Lena",
    "Jonas",
    "Chloé",
    "Hugo",
    "Zoë",
    "Sean",
    "Aoife",
    "Rafael",
    "Beatriz",
    "Ingrid",
    "Lars",
    "Amara",
    "Kwame",
    "Elif",
    "Can",
]
LAST = [
    "Smith",
    "Johnson",
    "García",
    "Müller",
    "Rossi",
    "Dubois",
    "Kowalski",
    "Nguyen",
    "Kim",
    "Patel",
    "Sato",
    "O'Brien",
    "Silva",
    "Jensen",
    "Novak",
    "Okafor",
    "Yılmaz",  # noqa: RUF001 - a Turkish name, spelled right
    "Cohen",
    "Andersson",
    "Fernández",
    "Murphy",
    "Schmidt",
    "Lopez",
    "Wang",
    "Ali",
    "Hughes",
]
COMPANIES = [
    "Northwind Traders",
    "Contoso Ltd",
    "Fabrikam Inc",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Analytics",
    "Acme Robotics",
    "Blue Yonder Airlines",
    "Tailspin Toys",
    "Wide World Importers",
    "Litware",
    "Proseware",
    "Adventure Works",
    "Coho Winery",
    "Lucerne Publishing",
    "Fourth Coffee",
]
TITLES = [
    "VP Marketing",
    "Head of Revenue Operations",
    "Marketing Manager",
    "CTO",
    "Sales Director",
    "Data Analyst",
    "Founder & CEO",
    "Demand Generation Lead",
    "IT Manager",
    "Student",
    "Procurement Officer",
    "Product Manager",
]
COUNTRIES = [
    ("United States", "+1 415 555 {:04d}"),
    ("United Kingdom", "+44 20 7946 {:04d}"),
    ("Germany", "+49 30 901820{:02d}"),
    ("France", "+33 1 70 36 {:02d} 00"),
    ("India", "+91 98765 4{:04d}"),
    ("Brazil", "+55 11 91234 {:04d}"),
    ("Japan", "+81 3 1234 {:04d}"),
    ("USA", "(212) 555-{:04d}"),
    ("Canada", "+1 604 555 {:04d}"),
    ("Spain", "+34 912 34 {:02d} 67"),
]
SOURCES = [
    "Web",
    "Web",
    "Web",
    "Advertisement",
    "Trade Show",
    "Partner Referral",
    "Employee Referral",
    "Seminar - Internal",
]


def rows(n: int = 500, seed: int = SEED) -> list[list[str]]:
    rng = random.Random(seed)
    start = datetime(2026, 9, 1, tzinfo=UTC)
    out: list[list[str]] = []
    people: list[tuple[str, str, str, str]] = []
    for i in range(n):
        if people and rng.random() < 0.05:
            first, last, email, company = rng.choice(people)  # the same person, another form
        else:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            company = rng.choice(COMPANIES)
            domain = company.lower().replace(" ", "").replace("&", "") + ".example"
            local = _ascii(f"{first}.{last}".lower().replace("'", "").replace(" ", ""))
            email = f"{local}{rng.randint(1, 99)}@{domain}"
            people.append((first, last, email, company))
        country, phone = rng.choice(COUNTRIES)
        when = start + timedelta(minutes=rng.randint(0, 60 * 24 * 80))
        out.append(
            [
                f"F-{100000 + i}",
                email if rng.random() > 0.02 else email.upper(),
                first if rng.random() > 0.1 else first.lower(),
                last,
                company if rng.random() > 0.05 else "",
                rng.choice(TITLES),
                phone.format(rng.randint(0, 99)) if rng.random() > 0.2 else "",
                country,
                rng.choice(SOURCES),
                str(rng.choice([5, 12, 40, 85, 250, 1200, 5000])),
                rng.choice(["No"] * 9 + ["Yes"]),
                rng.choice(["No"] * 9 + ["Yes"]),
                rng.choice(["Yes", "Yes", "No"]),
                str(int(when.timestamp() * 1000)) if i % 2 else iso_utc(when),
            ]
        )
    return out


def aged(text: str, today: date) -> str:
    """The sample's CSV text with every `Submitted At` moved by (today - SAMPLE_DAY), in the
    form it was written (ISO 8601 or epoch milliseconds)."""
    shift = timedelta(days=(today - SAMPLE_DAY).days)
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    column = header.index(SUBMITTED_AT)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in reader:
        row[column] = _moved(row[column], shift)
        writer.writerow(row)
    return out.getvalue()


def _moved(value: str, shift: timedelta) -> str:
    if value.isdigit():
        return str(int(value) + int(shift.total_seconds() * 1000))
    when = datetime.fromisoformat(value) + shift
    return iso_utc(when)


def _ascii(text: str) -> str:
    # Mail systems take accented names as plain letters: "García" -> "garcia".
    text = text.replace("ı", "i")  # noqa: RUF001 - dotless i has no NFKD decomposition
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


def write(path: Path, n: int = 500, seed: int = SEED) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        writer.writerows(rows(n, seed))


if __name__ == "__main__":
    write(Path(__file__).with_name("sample_leads.csv"))
