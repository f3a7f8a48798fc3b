"""The name lists of one generated company: a small manufacturing firm.

Everything here is a pure function of (seed, realm index, as-of epoch): accounts with
sub-accounts, classes, departments, terms, payment methods, tax agencies/rates/codes, items,
customers (with sub-customers), vendors, employees, budgets, CompanyInfo and Preferences.
Objects are plain dicts in QBO's JSON shape (money as cent-quantized ``Decimal``).
"""
from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from .wire import money, qbo_timestamp, PACIFIC

DAY = 86400

HOME_CURRENCY = {"value": "USD", "name": "United States Dollar"}
CURRENCIES = {
    "USD": HOME_CURRENCY,
    "CAD": {"value": "CAD", "name": "Canadian Dollar"},
    "EUR": {"value": "EUR", "name": "Euro"},
}

COMPANY_NAMES = [
    "Cedar Ridge Fabrication", "Ironwood Precision Parts", "Bluewater Machine Works",
    "Summit Forge & Tool", "Redwood Industrial Components", "Granite Valley Manufacturing",
    "Pacific Crest Metalworks", "Harbor Point Castings",
]

# (Id, Name, AccountType, AccountSubType, AcctNum, parent Id or None, active, currency)
ACCOUNTS = [
    ("1", "Checking", "Bank", "Checking", "1010", None, True, "USD"),
    ("2", "Savings", "Bank", "Savings", "1020", None, True, "USD"),
    ("3", "Undeposited Funds", "Other Current Asset", "UndepositedFunds", "1200", None, True, "USD"),
    ("4", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable", "1100", None, True, "USD"),
    ("5", "Accounts Receivable (A/R) - CAD", "Accounts Receivable", "AccountsReceivable", "1101", None, True, "CAD"),
    ("6", "Accounts Receivable (A/R) - EUR", "Accounts Receivable", "AccountsReceivable", "1102", None, True, "EUR"),
    ("7", "Inventory Asset", "Other Current Asset", "Inventory", "1300", None, True, "USD"),
    ("8", "Raw Materials", "Other Current Asset", "Inventory", "1310", "7", True, "USD"),
    ("9", "Finished Goods", "Other Current Asset", "Inventory", "1320", "7", True, "USD"),
    ("10", "Machinery & Equipment", "Fixed Asset", "MachineryAndEquipment", "1500", None, True, "USD"),
    ("11", "CNC Machines", "Fixed Asset", "MachineryAndEquipment", "1510", "10", True, "USD"),
    ("12", "Accumulated Depreciation", "Fixed Asset", "AccumulatedDepreciation", "1590", None, True, "USD"),
    ("13", "Accounts Payable (A/P)", "Accounts Payable", "AccountsPayable", "2000", None, True, "USD"),
    ("14", "Accounts Payable (A/P) - CAD", "Accounts Payable", "AccountsPayable", "2001", None, True, "CAD"),
    ("15", "Accounts Payable (A/P) - EUR", "Accounts Payable", "AccountsPayable", "2002", None, True, "EUR"),
    ("16", "Business Visa", "Credit Card", "CreditCard", "2100", None, True, "USD"),
    ("17", "California Department of Tax and Fee Administration Payable", "Other Current Liability",
     "GlobalTaxPayable", "2200", None, True, "USD"),
    ("18", "Nevada Department of Taxation Payable", "Other Current Liability", "GlobalTaxPayable", "2210",
     None, True, "USD"),
    ("19", "Payroll Liabilities", "Other Current Liability", "PayrollTaxPayable", "2300", None, True, "USD"),
    ("20", "Equipment Loan", "Long Term Liability", "NotesPayable", "2700", None, True, "USD"),
    ("21", "Opening Balance Equity", "Equity", "OpeningBalanceEquity", "3000", None, True, "USD"),
    ("22", "Retained Earnings", "Equity", "RetainedEarnings", "3100", None, True, "USD"),
    ("23", "Sales of Product Income", "Income", "SalesOfProductIncome", "4000", None, True, "USD"),
    ("24", "Industrial Sales", "Income", "SalesOfProductIncome", "4010", "23", True, "USD"),
    ("25", "Commercial Sales", "Income", "SalesOfProductIncome", "4020", "23", True, "USD"),
    ("26", "Services", "Income", "ServiceFeeIncome", "4100", None, True, "USD"),
    ("27", "Installation", "Income", "ServiceFeeIncome", "4110", "26", True, "USD"),
    ("28", "Discounts given", "Income", "DiscountsRefundsGiven", "4900", None, True, "USD"),
    ("29", "Cost of Goods Sold", "Cost of Goods Sold", "SuppliesMaterialsCogs", "5000", None, True, "USD"),
    ("30", "Materials", "Cost of Goods Sold", "SuppliesMaterialsCogs", "5010", "29", True, "USD"),
    ("31", "Direct Labor", "Cost of Goods Sold", "CostOfLaborCos", "5100", None, True, "USD"),
    ("32", "Freight and Delivery", "Cost of Goods Sold", "ShippingFreightDeliveryCos", "5200", None, True, "USD"),
    ("33", "Rent or Lease", "Expense", "RentOrLeaseOfBuildings", "6000", None, True, "USD"),
    ("34", "Utilities", "Expense", "Utilities", "6100", None, True, "USD"),
    ("35", "Electricity", "Expense", "Utilities", "6110", "34", True, "USD"),
    ("36", "Water", "Expense", "Utilities", "6120", "34", True, "USD"),
    ("37", "Repairs and Maintenance", "Expense", "RepairMaintenance", "6200", None, True, "USD"),
    ("38", "Office Expenses", "Expense", "OfficeGeneralAdministrativeExpenses", "6300", None, True, "USD"),
    ("39", "Insurance", "Expense", "Insurance", "6400", None, True, "USD"),
    ("40", "Wages", "Expense", "PayrollExpenses", "6500", None, True, "USD"),
    ("41", "Meals and Entertainment", "Expense", "EntertainmentMeals", "6600", None, True, "USD"),
    ("42", "Travel", "Expense", "Travel", "6700", None, True, "USD"),
    ("43", "Depreciation", "Other Expense", "Depreciation", "7000", None, True, "USD"),
    ("44", "Interest Earned", "Other Income", "InterestEarned", "8000", None, True, "USD"),
    ("45", "Exchange Gain or Loss", "Other Expense", "ExchangeGainOrLoss", "8100", None, True, "USD"),
    ("46", "Trade Show Marketing", "Expense", "AdvertisingPromotional", "6800", None, False, "USD"),
]

CLASSIFICATION = {
    "Bank": "Asset", "Other Current Asset": "Asset", "Accounts Receivable": "Asset", "Fixed Asset": "Asset",
    "Other Asset": "Asset", "Accounts Payable": "Liability", "Credit Card": "Liability",
    "Other Current Liability": "Liability", "Long Term Liability": "Liability", "Equity": "Equity",
    "Income": "Revenue", "Other Income": "Revenue", "Cost of Goods Sold": "Expense", "Expense": "Expense",
    "Other Expense": "Expense",
}

# Account ids the transaction generator posts to.
A_CHECKING, A_SAVINGS, A_UNDEPOSITED = "1", "2", "3"
A_AR = {"USD": "4", "CAD": "5", "EUR": "6"}
A_AP = {"USD": "13", "CAD": "14", "EUR": "15"}
A_VISA = "16"
A_DISCOUNTS = "28"
A_ACCUM_DEPR, A_DEPRECIATION = "12", "43"
A_INTEREST = "44"
A_WAGES, A_PAYROLL_LIAB = "40", "19"
EXPENSE_ACCOUNTS = ["33", "35", "36", "37", "38", "39", "41", "42", "30", "32"]

CLASSES = [  # Id, Name, parent, active
    ("1", "Production", None, True), ("2", "Maintenance", None, True), ("3", "Administration", None, True),
    ("4", "Retail", None, True), ("5", "Online", "4", True), ("6", "Prototype Lab", None, False),
]
DEPARTMENTS = [  # Id, Name, active
    ("1", "Main Plant", True), ("2", "Warehouse", True), ("3", "Sales Office", True), ("4", "Reno Annex", False),
]
TERMS = [  # Id, Name, DueDays, DiscountPercent, DiscountDays, active
    ("1", "Due on receipt", 0, None, 0, True), ("2", "Net 15", 15, None, 0, True),
    ("3", "Net 30", 30, None, 0, True), ("4", "Net 60", 60, None, 0, True),
    ("5", "2% 10 Net 30", 30, 2, 10, True), ("6", "Net 90", 90, None, 0, False),
]
PAYMENT_METHODS = [  # Id, Name, Type, active
    ("1", "Cash", "NON_CREDIT_CARD", True), ("2", "Check", "NON_CREDIT_CARD", True),
    ("3", "Visa", "CREDIT_CARD", True), ("4", "MasterCard", "CREDIT_CARD", True),
    ("5", "American Express", "CREDIT_CARD", True), ("6", "ACH", "NON_CREDIT_CARD", True),
    ("7", "Diners Club", "CREDIT_CARD", False),
]
TAX_AGENCIES = [("1", "California Department of Tax and Fee Administration"), ("2", "Nevada Department of Taxation")]
TAX_RATES = [  # Id, Name, rate, agency
    ("1", "California State", Decimal("7.25"), "1"), ("2", "Alameda County", Decimal("1"), "1"),
    ("3", "Nevada State", Decimal("6.85"), "2"),
]
TAX_CODES = [  # Id, Name, rate ids
    ("2", "California", ["1", "2"]), ("3", "Nevada", ["3"]),
]
# Id, Name, Type, description, unit price, purchase cost, income acct, expense acct, asset acct, taxable, active
ITEMS = [
    ("1", "Hours", "Service", "Labor hours", Decimal("85"), Decimal("0"), "26", None, None, False, True),
    ("2", "Machining Services", "Service", "CNC machining per job", Decimal("450"), Decimal("0"), "26", None, None, False, True),
    ("3", "Installation", "Service", "On-site installation", Decimal("120"), Decimal("0"), "27", None, None, False, True),
    ("4", "Steel Bracket", "Inventory", "Galvanized steel mounting bracket", Decimal("18"), Decimal("7.5"), "24", "29", "9", True, True),
    ("5", "Aluminum Housing", "Inventory", "Anodized aluminum enclosure", Decimal("64"), Decimal("27"), "24", "29", "9", True, True),
    ("6", "Gear Assembly", "Inventory", "Hardened gear assembly, 40T", Decimal("145"), Decimal("61.25"), "24", "29", "9", True, True),
    ("7", "Hydraulic Pump", "Inventory", "2 HP hydraulic pump", Decimal("780"), Decimal("402"), "25", "29", "9", True, True),
    ("8", "Control Panel", "Inventory", "PLC control panel", Decimal("1250"), Decimal("690"), "25", "29", "9", True, True),
    ("9", "Conveyor Roller", "Inventory", "Steel conveyor roller", Decimal("42.5"), Decimal("16.4"), "24", "29", "9", True, True),
    ("10", "Packaging Materials", "NonInventory", "Crates and foam", Decimal("25"), Decimal("12"), "23", "30", None, True, True),
    ("11", "Steel Sheet", "NonInventory", "Cold-rolled steel sheet, 4x8", Decimal("0"), Decimal("96"), "23", "30", None, True, True),
    ("12", "Safety Gloves", "NonInventory", "Cut-resistant gloves (pair)", Decimal("9"), Decimal("3.75"), "23", "38", None, True, True),
    ("13", "Freight", "Service", "Freight and delivery", Decimal("75"), Decimal("0"), "23", None, None, False, True),
    ("14", "Legacy Widget", "Inventory", "Discontinued widget", Decimal("12"), Decimal("5"), "24", "29", "9", True, False),
]
SALES_ITEMS = ["2", "3", "4", "5", "6", "7", "8", "9", "10", "13", "1"]
PURCHASE_ITEMS = ["4", "5", "6", "7", "8", "9", "11", "12"]

_FIRST = ["Alex", "Jordan", "Maria", "Chen", "Priya", "Liam", "Sofia", "Noah", "Aisha", "Mateo", "Emma", "Kenji",
          "Olivia", "Ravi", "Hannah", "Diego", "Grace", "Omar", "Lena", "Victor"]
_LAST = ["Nguyen", "Patel", "Garcia", "Kim", "Schmidt", "Okafor", "Rossi", "Larsen", "Silva", "Cohen", "Murphy",
         "Tanaka", "Dubois", "Novak", "Haddad", "Fischer", "Lopez", "Walsh", "Berg", "Sato"]
_CO_A = ["Apex", "Northstar", "Keystone", "Silverline", "Evergreen", "Titan", "Lakeside", "Riverbend", "Copperfield",
         "Westgate", "Highland", "Brightwater", "Stonebridge", "Oakmont", "Sunrise", "Ironclad", "Clearview", "Falcon",
         "Harbor", "Pinnacle"]
_CO_B = ["Robotics", "Automation", "Energy", "Logistics", "Packaging", "Marine", "Aerospace", "Foods", "Builders",
         "Hydraulics", "Motors", "Systems", "Plastics", "Agritech", "Medical Devices"]
_CO_C = ["Inc.", "LLC", "Co.", "Corp.", "Ltd.", "Group"]
_V_B = ["Steel Supply", "Metals", "Tooling", "Freight", "Electric", "Industrial Supply", "Properties", "Insurance",
        "Utilities", "Office Supply", "Fasteners", "Welding Gas", "Equipment Rental"]
_CITIES = [("Oakland", "CA", "94607"), ("Fremont", "CA", "94538"), ("San Jose", "CA", "95112"),
           ("Sacramento", "CA", "95814"), ("Reno", "NV", "89501"), ("Sparks", "NV", "89431"),
           ("Hayward", "CA", "94545"), ("Stockton", "CA", "95202")]
_FOREIGN_CITIES = {"CAD": [("Vancouver", "BC", "V6B 1A1", "Canada"), ("Toronto", "ON", "M5V 2T6", "Canada")],
                   "EUR": [("Rotterdam", None, "3011 AA", "Netherlands"), ("Stuttgart", None, "70173", "Germany")]}
_STREETS = ["Industrial Way", "Harbor Blvd", "Mission St", "Foundry Rd", "Commerce Dr", "Quarry Ln", "Main St",
            "Mill St", "Railroad Ave", "Canal St"]


def ref(value: str, name: str | None = None) -> dict:
    return {"value": value, "name": name} if name is not None else {"value": value}


def meta(create: float, update: float) -> dict:
    return {"CreateTime": qbo_timestamp(create), "LastUpdatedTime": qbo_timestamp(update)}


def header(id_: str, create: float, update: float, sync: int = 0) -> dict:
    return {"domain": "QBO", "sparse": False, "Id": id_, "SyncToken": str(sync), "MetaData": meta(create, update)}


class Company:
    """Name lists and lookup tables of one realm (pure function of the constructor arguments)."""

    def __init__(self, seed: int, realm_index: int, realm_id: str, start: float, end: float, size: str):
        self.seed, self.realm_index, self.realm_id = seed, realm_index, realm_id
        self.start, self.end = start, end  # the transaction period (epoch seconds)
        self.setup_time = start - 30 * DAY  # when the company was set up (name lists created)
        rnd = random.Random(seed * 7919 + realm_index)
        self.rnd = rnd
        self.name = COMPANY_NAMES[(seed + realm_index) % len(COMPANY_NAMES)]
        if realm_index >= len(COMPANY_NAMES):
            self.name += f" #{realm_index + 1}"
        n_customers = 40 if size == "demo" else 400
        n_vendors = 24 if size == "demo" else 200
        n_employees = 10 if size == "demo" else 40
        self.lists: dict[str, list[dict]] = {}
        self.lists["Account"] = self._accounts()
        self.account_names = {a["Id"]: a["FullyQualifiedName"] for a in self.lists["Account"]}
        self.lists["Class"] = self._classes()
        self.lists["Department"] = self._departments()
        self.lists["Term"] = self._terms()
        self.lists["PaymentMethod"] = self._payment_methods()
        self.lists["TaxAgency"], self.lists["TaxRate"], self.lists["TaxCode"] = self._tax()
        self.lists["Item"] = self._items()
        self.items = {i["Id"]: i for i in self.lists["Item"]}
        self.lists["Customer"] = self._customers(n_customers)
        self.lists["Vendor"] = self._vendors(n_vendors)
        self.lists["Employee"] = self._employees(n_employees)
        self.lists["Budget"] = self._budgets()
        self.lists["CompanyCurrency"] = self._company_currencies()
        self.lists["CustomerType"] = self._customer_types()
        self.lists["Attachable"] = self._attachables()
        self.lists["CompanyInfo"] = [self._company_info()]
        self.lists["Preferences"] = [self._preferences()]
        # Lookups for the transaction generator: active parties only.
        self.active_customers = [c for c in self.lists["Customer"] if c["Active"]]
        self.usd_customers = [c for c in self.active_customers if c["CurrencyRef"]["value"] == "USD"]
        for k, c in enumerate(self.lists["Customer"]):
            if not c.get("Job") and k % 3 == 0:
                c["CustomerTypeRef"] = {"value": str(1 + k % 3)}
        self.active_vendors = [v for v in self.lists["Vendor"] if v["Active"]]
        self.usd_vendors = [v for v in self.active_vendors if v["CurrencyRef"]["value"] == "USD"]
        self.active_employees = [e for e in self.lists["Employee"] if e["Active"]]
        self.class_refs = [ref(c["Id"], c["FullyQualifiedName"]) for c in self.lists["Class"] if c["Active"]]
        self.dept_refs = [ref(d["Id"], d["FullyQualifiedName"]) for d in self.lists["Department"] if d["Active"]]

    # -- helpers -------------------------------------------------------------------------------
    def _t(self, lo_days: float = 0, hi_days: float = 20) -> float:
        return int(self.setup_time + self.rnd.uniform(lo_days, hi_days) * DAY)

    def _updated(self, created: float) -> tuple[float, int]:
        """Most records are untouched since setup; some were edited during the period."""
        r = self.rnd.random()
        if r < 0.75:
            return created, 0
        return int(self.rnd.uniform(self.start, self.end)), 1 + int(r * 10) % 3

    def _addr(self, id_: str, currency: str = "USD") -> dict:
        rnd = self.rnd
        street = f"{rnd.randint(10, 9999)} {rnd.choice(_STREETS)}"
        if currency != "USD":
            city, region, postal, country = rnd.choice(_FOREIGN_CITIES[currency])
            a = {"Id": id_, "Line1": street, "City": city, "Country": country}
            if region:
                a["CountrySubDivisionCode"] = region
            a["PostalCode"] = postal
            return a
        city, state, zip_ = rnd.choice(_CITIES)
        return {"Id": id_, "Line1": street, "City": city, "CountrySubDivisionCode": state, "PostalCode": zip_,
                "Lat": f"{rnd.uniform(36.5, 39.6):.7f}", "Long": f"{rnd.uniform(-122.5, -119.7):.7f}"}

    def _phone(self) -> dict:
        r = self.rnd
        return {"FreeFormNumber": f"({r.randint(200, 989)}) 555-{r.randint(1000, 9999)}"}

    # -- lists ---------------------------------------------------------------------------------
    def _accounts(self) -> list[dict]:
        by_id = {a[0]: a for a in ACCOUNTS}
        out = []
        for (id_, name, typ, sub, num, parent, active, cur) in ACCOUNTS:
            created = self._t(0, 2)
            updated, sync = (created, 0)
            fq = f"{by_id[parent][1]}:{name}" if parent else name
            a = {"Name": name, "SubAccount": parent is not None}
            if parent:
                a["ParentRef"] = ref(parent)
            a.update({"FullyQualifiedName": fq, "Active": active, "Classification": CLASSIFICATION[typ],
                      "AccountType": typ, "AccountSubType": sub, "AcctNum": num,
                      "CurrentBalance": 0, "CurrentBalanceWithSubAccounts": 0,
                      "CurrencyRef": CURRENCIES[cur]})
            a.update(header(id_, created, updated, sync))
            out.append(a)
        return out

    def _classes(self) -> list[dict]:
        names = {c[0]: c[1] for c in CLASSES}
        out = []
        for id_, name, parent, active in CLASSES:
            created = self._t()
            updated, sync = self._updated(created)
            c = {"Name": name, "SubClass": parent is not None}
            if parent:
                c["ParentRef"] = ref(parent)
            c.update({"FullyQualifiedName": f"{names[parent]}:{name}" if parent else name, "Active": active})
            c.update(header(id_, created, updated, sync))
            out.append(c)
        return out

    def _departments(self) -> list[dict]:
        out = []
        for id_, name, active in DEPARTMENTS:
            created = self._t()
            d = {"Name": name, "SubDepartment": False, "FullyQualifiedName": name, "Active": active}
            d.update(header(id_, created, created))
            out.append(d)
        return out

    def _terms(self) -> list[dict]:
        out = []
        for id_, name, due, disc_pct, disc_days, active in TERMS:
            created = self._t(0, 1)
            t = {"Name": name, "Active": active, "Type": "STANDARD", "DueDays": due}
            if disc_pct is not None:
                t["DiscountPercent"] = disc_pct
            t["DiscountDays"] = disc_days
            t.update(header(id_, created, created))
            out.append(t)
        return out

    def _payment_methods(self) -> list[dict]:
        out = []
        for id_, name, typ, active in PAYMENT_METHODS:
            created = self._t(0, 1)
            p = {"Name": name, "Active": active, "Type": typ}
            p.update(header(id_, created, created))
            out.append(p)
        return out

    def _tax(self):
        created = self._t(1, 2)
        agencies = []
        for id_, name in TAX_AGENCIES:
            a = {"TaxTrackedOnPurchases": False, "TaxTrackedOnSales": True}
            a.update(header(id_, created, created))
            a["DisplayName"] = name
            agencies.append(a)
        rates = []
        self.tax_rates = {}
        for id_, name, value, agency in TAX_RATES:
            r = {"Name": name, "Description": "Sales Tax", "Active": True, "RateValue": value,
                 "AgencyRef": ref(agency), "SpecialTaxType": "NONE", "DisplayType": "ReadOnly"}
            r.update(header(id_, created, created))
            rates.append(r)
            self.tax_rates[id_] = (name, value)
        codes = []
        self.tax_codes = {}
        for id_, name, rate_ids in TAX_CODES:
            c = {"Name": name, "Description": name, "Active": True, "Taxable": True, "TaxGroup": True,
                 "SalesTaxRateList": {"TaxRateDetail": [
                     {"TaxRateRef": ref(r, self.tax_rates[r][0]), "TaxTypeApplicable": "TaxOnAmount",
                      "TaxOrder": 0} for r in rate_ids]},
                 "PurchaseTaxRateList": {"TaxRateDetail": []}}
            c.update(header(id_, created, created))
            codes.append(c)
            self.tax_codes[id_] = rate_ids
        return agencies, rates, codes

    def _items(self) -> list[dict]:
        out = []
        inv_start = dt.datetime.fromtimestamp(self.setup_time, PACIFIC).date().isoformat()
        for (id_, name, typ, desc, price, cost, inc, exp, asset, taxable, active) in ITEMS:
            created = self._t(1, 5)
            updated, sync = self._updated(created)
            i = {"Name": name, "Description": desc, "Active": active, "FullyQualifiedName": name,
                 "Taxable": taxable, "UnitPrice": price, "Type": typ,
                 "IncomeAccountRef": ref(inc, self.account_names[inc])}
            if typ != "Service" or cost:
                i["PurchaseDesc"] = desc
            i["PurchaseCost"] = cost
            if exp:
                i["ExpenseAccountRef"] = ref(exp, self.account_names[exp])
            if asset:
                i["AssetAccountRef"] = ref(asset, self.account_names[asset])
            i["TrackQtyOnHand"] = typ == "Inventory"
            if typ == "Inventory":
                i["QtyOnHand"] = self.rnd.randint(20, 900)
                i["InvStartDate"] = inv_start
            i["Sku"] = f"MF-{int(id_):04d}"
            i.update(header(id_, created, updated, sync))
            out.append(i)
        return out

    def _customers(self, n: int) -> list[dict]:
        out = []
        rnd = self.rnd
        used = set()
        next_id = 1
        parents = []
        for k in range(n):
            while True:
                cname = f"{rnd.choice(_CO_A)} {rnd.choice(_CO_B)} {rnd.choice(_CO_C)}"
                if cname not in used:
                    used.add(cname)
                    break
            r = rnd.random()
            currency = "CAD" if r < 0.08 else "EUR" if r < 0.15 else "USD"
            given, family = rnd.choice(_FIRST), rnd.choice(_LAST)
            id_ = str(next_id)
            next_id += 1
            created = self._t(2, 28)
            updated, sync = self._updated(created)
            active = rnd.random() > 0.06
            c = {"Taxable": currency == "USD", "BillAddr": self._addr(str(100 + int(id_)), currency)}
            if rnd.random() < 0.6:
                c["ShipAddr"] = dict(c["BillAddr"])
            c.update({"Job": False, "BillWithParent": False, "Balance": 0, "BalanceWithJobs": 0,
                      "CurrencyRef": CURRENCIES[currency], "PreferredDeliveryMethod": rnd.choice(["Print", "Email"])})
            c.update(header(id_, created, updated, sync))
            c.update({"GivenName": given, "FamilyName": family, "FullyQualifiedName": cname, "CompanyName": cname,
                      "DisplayName": cname, "PrintOnCheckName": cname, "Active": active,
                      "PrimaryPhone": self._phone(),
                      "PrimaryEmailAddr": {"Address": f"{given.lower()}@{cname.split()[0].lower()}.example.com"}})
            if rnd.random() < 0.3:
                c["Mobile"] = self._phone()
            if rnd.random() < 0.3:
                c["WebAddr"] = {"URI": f"https://www.{cname.split()[0].lower()}.example.com"}
            c["SalesTermRef"] = ref(rnd.choice(["1", "2", "3", "3", "4", "5"]))
            if currency == "USD":
                c["DefaultTaxCodeRef"] = ref("2" if c["BillAddr"].get("CountrySubDivisionCode") == "CA" else "3")
            out.append(c)
            if active:
                parents.append(c)
        # Sub-customers (jobs): a quarter of the parents have one or two projects.
        for parent in parents[: max(2, len(parents) // 4)]:
            for j in range(1 + rnd.randint(0, 1)):
                id_ = str(next_id)
                next_id += 1
                created = self._t(5, 29)
                job = f"Job {rnd.randint(100, 999)} {rnd.choice(['Retrofit', 'Line Expansion', 'Prototype', 'Service Contract'])}"
                cur = parent["CurrencyRef"]["value"]
                c = {"Taxable": parent["Taxable"], "BillAddr": dict(parent["BillAddr"]), "Job": True,
                     "BillWithParent": True, "ParentRef": ref(parent["Id"]), "Level": 1, "Balance": 0,
                     "BalanceWithJobs": 0, "CurrencyRef": CURRENCIES[cur], "PreferredDeliveryMethod": "Print"}
                c.update(header(id_, created, created))
                c.update({"FullyQualifiedName": f"{parent['DisplayName']}:{job}", "CompanyName": parent["CompanyName"],
                          "DisplayName": job if j == 0 else f"{job} ({parent['Id']})", "PrintOnCheckName": parent["CompanyName"],
                          "Active": True})
                if "DefaultTaxCodeRef" in parent:
                    c["DefaultTaxCodeRef"] = parent["DefaultTaxCodeRef"]
                # Job names must be unique; suffix with the parent id.
                c["DisplayName"] = f"{job} ({parent['Id']}-{j})"
                c["FullyQualifiedName"] = f"{parent['DisplayName']}:{c['DisplayName']}"
                out.append(c)
        return out

    def _vendors(self, n: int) -> list[dict]:
        out = []
        rnd = self.rnd
        used = set()
        for k in range(n):
            while True:
                vname = f"{rnd.choice(_CO_A)} {rnd.choice(_V_B)}"
                if vname not in used:
                    used.add(vname)
                    break
            id_ = str(k + 1)
            r = rnd.random()
            currency = "CAD" if r < 0.08 else "EUR" if r < 0.13 else "USD"
            created = self._t(2, 28)
            updated, sync = self._updated(created)
            v = {"BillAddr": self._addr(str(500 + k), currency), "Balance": 0}
            if rnd.random() < 0.5:
                v["AcctNum"] = str(rnd.randint(10000, 999999))
            v.update({"Vendor1099": rnd.random() < 0.2, "CurrencyRef": CURRENCIES[currency]})
            v.update(header(id_, created, updated, sync))
            v.update({"CompanyName": vname, "DisplayName": vname, "PrintOnCheckName": vname,
                      "Active": rnd.random() > 0.08, "PrimaryPhone": self._phone(),
                      "TermRef": ref(rnd.choice(["2", "3", "3", "4"]))})
            out.append(v)
        return out

    def _employees(self, n: int) -> list[dict]:
        out = []
        rnd = self.rnd
        for k in range(n):
            id_ = str(k + 1)
            given, family = rnd.choice(_FIRST), rnd.choice(_LAST)
            created = self._t(1, 25)
            hired = dt.datetime.fromtimestamp(created - rnd.randint(30, 2000) * DAY, PACIFIC).date().isoformat()
            active = k != n - 1
            e = {"BillableTime": rnd.random() < 0.5, "HiredDate": hired}
            if not active:
                e["ReleasedDate"] = dt.datetime.fromtimestamp(self.start + 40 * DAY, PACIFIC).date().isoformat()
            e.update(header(id_, created, created if active else int(self.start + 40 * DAY), 0 if active else 1))
            e.update({"GivenName": given, "FamilyName": family, "DisplayName": f"{given} {family}",
                      "PrintOnCheckName": f"{given} {family}", "Active": active, "PrimaryPhone": self._phone(),
                      "EmployeeNumber": f"E{k + 100}"})
            if e["BillableTime"]:
                e["BillRate"] = rnd.choice([65, 75, 85, 95])
            out.append(e)
        return out

    def _budgets(self) -> list[dict]:
        start = dt.datetime.fromtimestamp(self.start, PACIFIC).date()
        year = start.year + 1 if start.month > 6 else start.year
        out = []
        for bid, yr in (("1", year - 1), ("2", year)):
            created = self._t(3, 10)
            details = []
            for acct, base in (("24", 42000), ("25", 30000), ("26", 12000), ("29", 38000), ("33", 8500),
                               ("35", 1900), ("40", 26000), ("42", 1200)):
                for m in range(1, 13):
                    amt = money(Decimal(base) * (Decimal(90 + self.rnd.randint(0, 20)) / 100))
                    details.append({"BudgetDate": f"{yr}-{m:02d}-01", "Amount": amt,
                                    "AccountRef": ref(acct, self.account_names[acct])})
            b = {"Name": f"FY{yr} Operating Budget", "StartDate": f"{yr}-01-01", "EndDate": f"{yr}-12-31",
                 "BudgetType": "ProfitAndLoss", "BudgetEntryType": "Monthly", "Active": True,
                 "BudgetDetail": details}
            b.update(header(bid, created, created))
            out.append(b)
        return out

    def _company_currencies(self) -> list[dict]:
        out = []
        for id_, code in (("1", "CAD"), ("2", "EUR")):
            created = self._t(0, 1)
            c = {"Code": code, "Name": CURRENCIES[code]["name"], "Active": True}
            c.update(header(id_, created, created))
            out.append(c)
        return out

    def _customer_types(self) -> list[dict]:
        out = []
        for id_, name, active in (("1", "OEM", True), ("2", "Distributor", True), ("3", "Retail", True),
                                  ("4", "Government", False)):
            created = self._t(0, 2)
            c = {"Name": name, "Active": active}
            c.update(header(id_, created, created))
            out.append(c)
        return out

    def _attachables(self) -> list[dict]:
        """Notes attached to the first invoices (transaction ids 100, 101, 106 are always invoices)."""
        out = []
        for k, (txn, note) in enumerate((("100", "Signed delivery receipt on file"),
                                         ("101", "Customer PO scanned"), ("106", "Inspection report"))):
            created = int(self.start + (k + 1) * 3 * DAY)
            a = {"Note": note, "AttachableRef": [{"EntityRef": {"type": "Invoice", "value": txn},
                                                  "IncludeOnSend": False}]}
            a.update(header(str(k + 1), created, created))
            out.append(a)
        return out

    def _company_info(self) -> dict:
        addr = {"Id": "1", "Line1": "1200 Foundry Rd", "City": "Oakland", "CountrySubDivisionCode": "CA",
                "PostalCode": "94607"}
        created = int(self.setup_time)
        start_date = dt.datetime.fromtimestamp(self.setup_time, PACIFIC).date().isoformat()
        c = {"CompanyName": self.name, "LegalName": self.name + " LLC", "CompanyAddr": addr,
             "CustomerCommunicationAddr": dict(addr), "LegalAddr": dict(addr),
             "PrimaryPhone": {"FreeFormNumber": "(510) 555-0100"}, "CompanyStartDate": start_date,
             "FiscalYearStartMonth": "January", "Country": "US",
             "Email": {"Address": "accounts@" + self.name.split()[0].lower() + ".example.com"},
             "WebAddr": {}, "SupportedLanguages": "en",
             "NameValue": [{"Name": "NeoEnabled", "Value": "true"}, {"Name": "IndustryType", "Value": "Manufacturing"},
                           {"Name": "CompanyType", "Value": "LLC"}, {"Name": "SubscriptionStatus", "Value": "PAID"},
                           {"Name": "OfferingSku", "Value": "QuickBooks Online Advanced"},
                           {"Name": "PayrollFeature", "Value": "false"}, {"Name": "AccountantFeature", "Value": "false"}]}
        c.update(header("1", created, created))
        return c

    def _preferences(self) -> dict:
        created = int(self.setup_time)
        p = {"AccountingInfoPrefs": {"TrackDepartments": True, "DepartmentTerminology": "Location",
                                     "ClassTrackingPerTxn": False, "ClassTrackingPerTxnLine": True,
                                     "CustomerTerminology": "Customers"},
             "ProductAndServicesPrefs": {"ForSales": True, "ForPurchase": True, "QuantityWithPriceAndRate": True,
                                         "QuantityOnHand": True},
             "SalesFormsPrefs": {"CustomField": [{"CustomField": [
                 {"Name": "SalesFormsPrefs.UseSalesCustom1", "Type": "BooleanType", "BooleanValue": True},
                 {"Name": "SalesFormsPrefs.SalesCustomName1", "Type": "StringType", "StringValue": "Work Order #"},
                 {"Name": "SalesFormsPrefs.UseSalesCustom2", "Type": "BooleanType", "BooleanValue": True},
                 {"Name": "SalesFormsPrefs.SalesCustomName2", "Type": "StringType", "StringValue": "Sales Rep"}]}],
                 "AllowDeposit": True, "AllowDiscount": True, "AllowShipping": False, "DefaultTerms": ref("3"),
                 "ETransactionEnabledStatus": "NotApplicable"},
             "VendorAndPurchasesPrefs": {"TrackingByCustomer": True, "BillableExpenseTracking": True,
                                         "DefaultTerms": ref("3")},
             "TaxPrefs": {"UsingSalesTax": True, "PartnerTaxEnabled": True},
             "CurrencyPrefs": {"MultiCurrencyEnabled": True, "HomeCurrency": {"value": "USD"}},
             "TimeTrackingPrefs": {"UseServices": True, "BillCustomers": True, "ShowBillRateToAll": False,
                                   "WorkWeekStartDate": "Monday", "MarkTimeEntriesBillable": True}}
        p.update(header("1", created, created))
        return p
