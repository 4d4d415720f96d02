"""The demo dataset: one company's customers as its three systems hold them.

Demo Co sells a B2B product. Its customers live in

* ``product``: the product's own database (accounts and their users). The account id is
  the id every other system should lead to (Freshsuccess: "all roads must lead to
  account_id").
* ``crm``: a Salesforce-like CRM (Account and Contact objects, Salesforce field names).
  ``MyId`` is a custom field holding the product account id; ``Support__Id`` was filled by
  the support desk plug-in. Some contacts have no ``AccountId``.
* ``support``: a Zendesk/Freshdesk-like help desk (organizations with their domains, and end
  users who often belong to no organization).

The cases it holds, each on purpose:

* The Freshsuccess case, exactly: product ``{name: 'ACME Services', id: 34}``, CRM
  ``{Name: 'ACME', Id: 110, MyId: 34, Support__Id: 2101}``, support
  ``{name: 'Acme Inc.', id: 2101}``. The support organization only knows an old domain, so
  nothing but the CRM's two id fields ties it to ACME: the CRM record bridges the two and
  Allroads merges them (crosswalk product 34 <-> crm 110 <-> support 2101).
* Accounts linked by ``MyId`` alone, by domain alone (Kestrel, Tandem), accounts that exist in
  one system only (CRM prospects, a support-only organization), and two product workspaces
  of one company sharing a domain (Initech, Initech Europe): their different account ids
  keep them apart, and the shared domain stops identifying either.
* People whose email differs in case between systems, phones written five different ways
  (``(312) 555-0143``, ``+1 312-555-0143``, ``4155550134``, ``0044 20 7946 0958``, ...).
* A person known to the CRM by her work email and to support by a gmail address, with the
  same phone (Priya Raman): one person.
* People whose records only join through a third system: a CRM contact carrying both the
  product's email and the support desk's phone merges the two (Dana Whitfield, Oliver
  Hughes).
* Shared mailboxes (``info@``, ``billing@``, ``support@``): blocked, never linking anyone.
* CRM contacts with a null ``AccountId`` and support users with no organization (the
  Freshsuccess orphan problem): attached by email domain when the domain belongs to exactly
  one account (Noah Fischer, Linda Shaw, Tom Alvarez via ACME's old domain), orphans
  otherwise (Lena Fischer at her own consultancy, Kevin Osei and Wei Zhang on free mail:
  gmail.com never attaches anyone to an account).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Row = dict[str, Any]

TENANT_SLUG = "demo"
TENANT_NAME = "Demo Co"
TENANT_REGION = "US"

# The Freshsuccess case, by the numbers.
ACME_PRODUCT_ID = 34
ACME_CRM_ID = "110"
ACME_SUPPORT_ID = 2101
ACME_CONTACT_EMAIL = "jane.cho@acmeservices.com"


def _table(columns: Sequence[str], rows: Sequence[tuple[Any, ...]]) -> list[Row]:
    out = []
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"row {row!r} does not have the columns {columns!r}")
        out.append(dict(zip(columns, row, strict=True)))
    return out


# --- product: the product's own database ---------------------------------------------------

PRODUCT_ACCOUNTS = _table(("id", "name", "domain", "plan"), [
    (8, "Bluefin Payments", "bluefinpay.com", "growth"),
    (12, "Brightline Logistics", "brightline.io", "enterprise"),
    (17, "Kestrel Analytics", "kestrelanalytics.com", "growth"),
    (21, "Harborview Dental Group", "harborviewdental.com", "starter"),
    (34, "ACME Services", "acmeservices.com", "enterprise"),
    (41, "Copperleaf Studio", "copperleaf.design", "starter"),
    (45, "Northwind Traders", "northwindtraders.com", "growth"),
    (52, "Meridian Health", "meridianhealth.org", "enterprise"),
    (58, "Fjord Outdoor", "fjordoutdoor.no", "growth"),
    (63, "Tandem Robotics", "tandemrobotics.com", "growth"),
    (66, "Lumen Legal", "lumenlegal.com", "starter"),
    (70, "Pinecone Schools", "pineconeschools.org", "growth"),
    (73, "Orbital Freight", "orbitalfreight.com", "enterprise"),
    (77, "Saffron Kitchens", "saffronkitchens.co.uk", "starter"),
    (80, "Vantage Realty", "vantagerealty.com", "starter"),
    (90, "Initech", "initech.com", "enterprise"),
    (91, "Initech Europe", "initech.com", "growth"),
    (95, "Solstice Energy", "solsticeenergy.com", "growth"),
])

PRODUCT_USERS = _table(("id", "email", "name", "account_id"), [
    (1001, "jane.cho@acmeservices.com", "Jane Cho", 34),
    (1002, "marcus.webb@acmeservices.com", "Marcus Webb", 34),
    (1003, "priya@acmeservices.com", "Priya Nair", 34),
    (1004, "d.kowalski@acmeservices.com", "Dominik Kowalski", 34),
    (1005, "amara.obi@acmeservices.com", "Amara Obi", 34),
    (1010, "dana@brightline.io", "Dana Whitfield", 12),
    (1011, "Luis.Ortega@brightline.io", "Luis Ortega", 12),
    (1012, "hannah.berg@brightline.io", "Hannah Berg", 12),
    (1013, "felix.wagner@brightline.io", "Felix Wagner", 12),
    (1020, "raj@kestrelanalytics.com", "Raj Patel", 17),
    (1021, "emily.tran@kestrelanalytics.com", "Emily Tran", 17),
    (1022, "sven.olsen@kestrelanalytics.com", "Sven Olsen", 17),
    (1030, "anita.shah@harborviewdental.com", "Anita Shah", 21),
    (1031, "ben@harborviewdental.com", "Ben Carter", 21),
    (1040, "oliver.hughes@bluefinpay.com", "Oliver Hughes", 8),
    (1041, "chloe.martin@bluefinpay.com", "Chloe Martin", 8),
    (1042, "tom.reid@bluefinpay.com", "Tom Reid", 8),
    (1050, "mia@copperleaf.design", "Mia Rossi", 41),
    (1051, "jordan@copperleaf.design", "Jordan Lee", 41),
    (1061, "laura.kim@northwindtraders.com", "Laura Kim", 45),
    (1062, "peter.novak@northwindtraders.com", "Peter Novak", 45),
    (1063, "yuki.tanaka@northwindtraders.com", "Yuki Tanaka", 45),
    (1071, "daniel.brooks@meridianhealth.org", "Daniel Brooks", 52),
    (1072, "aisha.bello@meridianhealth.org", "Aisha Bello", 52),
    (1073, "sophie.laurent@meridianhealth.org", "Sophie Laurent", 52),
    (1074, "james.porter@meridianhealth.org", "James Porter", 52),
    (1080, "ingrid@fjordoutdoor.no", "Ingrid Haugen", 58),
    (1081, "lars.berg@fjordoutdoor.no", "Lars Berg", 58),
    (1090, "kenji@tandemrobotics.com", "Kenji Watanabe", 63),
    (1091, "rachel.stein@tandemrobotics.com", "Rachel Stein", 63),
    (1092, "ivan.petrov@tandemrobotics.com", "Ivan Petrov", 63),
    (1100, "claire.dubois@lumenlegal.com", "Claire Dubois", 66),
    (1101, "noor.hassan@lumenlegal.com", "Noor Hassan", 66),
    (1110, "mlopez@pineconeschools.org", "Maria Lopez", 70),
    (1111, "greg.holt@pineconeschools.org", "Greg Holt", 70),
    (1112, "tanya.ivers@pineconeschools.org", "Tanya Ivers", 70),
    (1120, "victor.chen@orbitalfreight.com", "Victor Chen", 73),
    (1121, "nina.petrova@orbitalfreight.com", "Nina Petrova", 73),
    (1122, "sam.whitaker@orbitalfreight.com", "Sam Whitaker", 73),
    (1123, "leah.cohen@orbitalfreight.com", "Leah Cohen", 73),
    (1130, "arjun@saffronkitchens.co.uk", "Arjun Mehta", 77),
    (1140, "sarah.johnson@vantagerealty.com", "Sarah Johnson", 80),
    (1150, "helen.park@initech.com", "Helen Park", 90),
    (1151, "jonas.weber@initech.com", "Jonas Weber", 91),
    (1152, "elena.costa@initech.com", "Elena Costa", 91),
    (1153, "rob.miles@initech.com", "Rob Miles", 90),
    (1160, "ryan.oconnor@solsticeenergy.com", "Ryan O'Connor", 95),
    (1161, "zoe.adams@solsticeenergy.com", "Zoe Adams", 95),
    (1162, "mateo.silva@solsticeenergy.com", "Mateo Silva", 95),
])

# --- crm: Salesforce-like Account and Contact objects --------------------------------------

CRM_ACCOUNTS = _table(("Id", "Name", "Website", "Phone", "Industry", "MyId", "Support__Id"), [
    ("110", "ACME", "https://acmeservices.com", "(312) 555-0110", "Professional Services",
     34, 2101),
    ("0015g00000BRTLaAAE", "Brightline Logistics, LLC", "https://www.brightline.io",
     "+1 206 555 0100", "Transportation", 12, None),
    ("0015g00000KSTRaAAB", "Kestrel Analytics Inc", "kestrelanalytics.com", "415.555.0190",
     "Software", None, None),
    ("0015g00000HRBVaAAC", "Harborview Dental", "http://harborviewdental.com/",
     "(617) 555-0100", "Healthcare", 21, None),
    ("0015g00000BLFNaAAD", "Bluefin Payments Ltd", "bluefinpay.com", "+44 20 7946 0000",
     "Financial Services", 8, None),
    ("0015g00000NWNDaAAF", "Northwind Traders", "www.northwindtraders.com", "503-555-0100",
     "Wholesale", 45, 2107),
    ("0015g00000MRDNaAAG", "Meridian Health System", "https://meridianhealth.org",
     "(617) 555-0150", "Healthcare", 52, None),
    ("0015g00000FJRDaAAH", "Fjord Outdoor AS", "fjordoutdoor.no", "+47 22 12 34 56", "Retail",
     58, None),
    ("0015g00000TNDMaAAI", "Tandem Robotics", "https://tandemrobotics.com/", "(408) 555-0100",
     "Manufacturing", None, None),
    ("0015g00000LMNLaAAJ", "Lumen Legal LLP", "lumenlegal.com", "+1 212 555 0100", "Legal",
     66, None),
    ("0015g00000PNCSaAAK", "Pinecone Schools", "pineconeschools.org", "720-555-0100",
     "Education", 70, None),
    ("0015g00000ORBFaAAL", "Orbital Freight", "orbitalfreight.com", "(832) 555-0100",
     "Transportation", 73, 2113),
    ("0015g00000VNTGaAAM", "Vantage Realty Group", "vantagerealty.com", "(305) 555-0100",
     "Real Estate", 80, None),
    ("0015g00000INTCaAAN", "Initech", "initech.com", "(512) 555-0100", "Software", 90, None),
    ("0015g00000SLSTaAAO", "Solstice Energy", "solsticeenergy.com", "(303) 555-0100", "Energy",
     95, 2120),
    ("0015g00000RVBDaAAP", "Riverbend Bank", "riverbendbank.com", "(704) 555-0100", "Banking",
     None, None),
    ("0015g00000QLLCaAAQ", "Quill & Co", "https://quillandco.com", "(646) 555-0100", "Media",
     None, None),
])

CRM_CONTACTS = _table(("Id", "Email", "FirstName", "LastName", "Phone", "Title", "AccountId"), [
    ("0035g00000JCHOaAAA", "Jane.Cho@AcmeServices.com", "Jane", "Cho", "(312) 555-0143",
     "Head of Customer Operations", "110"),
    ("0035g00000MWEBaAAA", "marcus.webb@acmeservices.com", "Marcus", "Webb", "312.555.0178",
     "CTO", "110"),
    ("0035g00000OGRTaAAA", "olivia.grant@acmeservices.com", "Olivia", "Grant", None,
     "VP Operations", "110"),
    ("0035g00000DWHTaAAA", "Dana@Brightline.io", "Dana", "Whitfield", "(206) 555-0147",
     "Director of IT", "0015g00000BRTLaAAE"),
    ("0035g00000LORTaAAA", "luis.ortega@brightline.io", "Luis", "Ortega", "+1 (206) 555-0162",
     "Operations Manager", "0015g00000BRTLaAAE"),
    ("0035g00000RPATaAAA", "RAJ@KestrelAnalytics.com", "Raj", "Patel", "4155550134",
     "Founder", "0015g00000KSTRaAAB"),
    ("0035g00000NFSCaAAA", "noah.fischer@kestrelanalytics.com", "Noah", "Fischer", None,
     "Data Engineer", None),
    ("0035g00000ASHHaAAA", "anita.shah@harborviewdental.com", "Anita", "Shah", "(617) 555-0121",
     "Practice Owner", "0015g00000HRBVaAAC"),
    ("0035g00000OHUGaAAA", "oliver.hughes@bluefinpay.com", "Oliver", "Hughes",
     "0044 20 7946 0958", "Head of Payments", "0015g00000BLFNaAAD"),
    ("0035g00000AKHNaAAA", "ahmed.khan@bluefinpay.com", "Ahmed", "Khan", "+44 7911 123456",
     "Finance Director", "0015g00000BLFNaAAD"),
    ("0035g00000NWINaAAA", "info@northwindtraders.com", None, "Northwind Traders (shared)",
     "503-555-0100", None, "0015g00000NWNDaAAF"),
    ("0035g00000LKIMaAAA", "laura.kim@northwindtraders.com", "Laura", "Kim", "(503) 555-0114",
     "Buyer", "0015g00000NWNDaAAF"),
    ("0035g00000PRMNaAAA", "priya.raman@meridianhealth.org", "Priya", "Raman", "(617) 555-0182",
     "Chief Medical Information Officer", "0015g00000MRDNaAAG"),
    ("0035g00000DBRKaAAA", "daniel.brooks@meridianhealth.org", "Dan", "Brooks", None,
     "IT Manager", "0015g00000MRDNaAAG"),
    ("0035g00000IHAUaAAA", "ingrid@fjordoutdoor.no", "Ingrid", "Haugen", "+47 412 34 567",
     "CEO", "0015g00000FJRDaAAH"),
    ("0035g00000KWATaAAA", "kenji@tandemrobotics.com", "Kenji", "Watanabe", "(408) 555-0133",
     "VP Engineering", "0015g00000TNDMaAAI"),
    ("0035g00000CDUBaAAA", "claire.dubois@lumenlegal.com", "Claire", "Dubois", "+1 212 555 0123",
     "Managing Partner", "0015g00000LMNLaAAJ"),
    ("0035g00000EWRTaAAA", "ethan.wright@lumenlegal.com", "Ethan", "Wright", None,
     "Office Manager", "0015g00000LMNLaAAJ"),
    ("0035g00000MLOPaAAA", "mlopez@pineconeschools.org", "Maria", "López", "720-555-0142",
     "Director of Technology", "0015g00000PNCSaAAK"),
    ("0035g00000VCHNaAAA", "victor.chen@orbitalfreight.com", "Victor", "Chen", "(832) 555-0155",
     "COO", "0015g00000ORBFaAAL"),
    ("0035g00000CMENaAAA", "carlos.mendes@orbitalfreight.com", "Carlos", "Mendes",
     "+1 832 555 0161", "Fleet Manager", "0015g00000ORBFaAAL"),
    ("0035g00000SJOHaAAA", "sarah.johnson@vantagerealty.com", "Sarah", "Johnson",
     "(305) 555-0177", "Broker", "0015g00000VNTGaAAM"),
    ("0035g00000MRUSaAAA", "mike.russo@vantagerealty.com", "Mike", "Russo", None, "Agent",
     "0015g00000VNTGaAAM"),
    ("0035g00000HPRKaAAA", "helen.park@initech.com", "Helen", "Park", "(512) 555-0111",
     "Procurement Lead", "0015g00000INTCaAAN"),
    ("0035g00000ROCNaAAA", "Ryan.OConnor@SolsticeEnergy.com", "Ryan", "O'Connor",
     "(303) 555-0138", "Energy Analyst", "0015g00000SLSTaAAO"),
    ("0035g00000SBILaAAA", "billing@solsticeenergy.com", None, "Accounts Payable", None, None,
     "0015g00000SLSTaAAO"),
    ("0035g00000TBCKaAAA", "tom.becker@riverbendbank.com", "Tom", "Becker", "(704) 555-0129",
     "VP Digital", "0015g00000RVBDaAAP"),
    ("0035g00000LSHWaAAA", "linda.shaw@riverbendbank.com", "Linda", "Shaw", None,
     "Head of Procurement", None),
    ("0035g00000IMORaAAA", "isabel@quillandco.com", "Isabel", "Moreno", "(646) 555-0119",
     "Founder", "0015g00000QLLCaAAQ"),
    ("0035g00000LFSHaAAA", "lena@fischer-consulting.de", "Lena", "Fischer", "+49 30 901820",
     "Consultant", None),
])

# --- support: a Zendesk/Freshdesk-like help desk --------------------------------------------

SUPPORT_ORGANIZATIONS = _table(("id", "name", "domain_names"), [
    (2101, "Acme Inc.", ["acme-inc.com"]),
    (2102, "Brightline", ["brightline.io"]),
    (2103, "Kestrel", ["kestrelanalytics.com", "kestrel.ai"]),
    (2105, "Bluefin Payments", ["bluefinpay.com", "bluefin.co.uk"]),
    (2106, "Copperleaf", ["copperleaf.design"]),
    (2107, "Northwind", ["northwindtraders.com"]),
    (2108, "Meridian Health", ["meridianhealth.org"]),
    (2110, "Tandem Robotics", ["tandemrobotics.com"]),
    (2112, "Pinecone Schools District", ["pineconeschools.org"]),
    (2113, "Orbital Freight", ["orbitalfreight.com"]),
    (2114, "Saffron Kitchens", ["saffronkitchens.co.uk"]),
    (2118, "Granite Peak Insurance", ["granitepeak.com"]),
    (2120, "Solstice Energy", ["solsticeenergy.com"]),
])

SUPPORT_USERS = _table(("id", "name", "email", "phone", "organization_id"), [
    (5001, "Jane Cho", " JANE.CHO@acmeservices.com ", "+1 312-555-0143", 2101),
    (5002, "Tom Alvarez", "talvarez@acme-inc.com", None, None),
    (5003, "Amara Obi", "amara.obi@acmeservices.com", "312 555 0199", 2101),
    (5010, "Dana W.", "dana.whitfield@gmail.com", "206.555.0147", 2102),
    (5011, "Sam Okafor", "sam.okafor@brightline.io", "206-555-0188", 2102),
    (5020, "Emily Tran", "Emily.Tran@KestrelAnalytics.com", "+1 415 555 0177", 2103),
    (5021, "Grace Liu", "grace.liu@kestrel.ai", None, None),
    (5040, "Oliver Hughes", "oliver@bluefin.co.uk", "+44 20 7946 0958", 2105),
    (5041, "Chloe Martin", "Chloe.Martin@BluefinPay.com", "+44 (0)20 7946 0321", 2105),
    (5050, "Mia Rossi", "mia@copperleaf.design", None, 2106),
    (5060, "Northwind Traders", "INFO@northwindtraders.com", None, 2107),
    (5061, "Laura Kim", "laura.kim@northwindtraders.com", "503-555-0114", 2107),
    (5062, "Sofia Esposito", "sofia@northwindtraders.com", "+1 503 555 0190", None),
    (5070, "Priya Raman", "priya.raman.md@gmail.com", "617.555.0182", None),
    (5071, "Aisha Bello", "aisha.bello@meridianhealth.org", "+1 (617) 555-0166", 2108),
    (5090, "Kenji Watanabe", "kenji@tandemrobotics.com", "408 555 0133", 2110),
    (5091, "Omar Haddad", "omar.haddad@tandemrobotics.com", None, 2110),
    (5110, "Maria Lopez", "MLopez@PineconeSchools.org", "(720) 555-0142", 2112),
    (5111, "Pinecone IT", "support@pineconeschools.org", None, 2112),
    (5120, "Victor Chen", "victor.chen@orbitalfreight.com", "+18325550155", 2113),
    (5121, "Nina Petrova", "nina.petrova@orbitalfreight.com", None, 2113),
    (5130, "Arjun Mehta", "arjun@saffronkitchens.co.uk", "+44 20 7946 0412", 2114),
    (5131, "Fatima Rahman", "fatima@saffronkitchens.co.uk", None, None),
    (5160, "Ryan O'Connor", "ryan.oconnor@solsticeenergy.com", "303-555-0138", 2120),
    (5180, "Mark Dawson", "mark.dawson@granitepeak.com", "(614) 555-0107", 2118),
    (5190, "Kevin Osei", "kevin.osei84@gmail.com", None, None),
    (5191, "Wei Zhang", "wzhang@outlook.com", "+1 (650) 555-0175", None),
])
