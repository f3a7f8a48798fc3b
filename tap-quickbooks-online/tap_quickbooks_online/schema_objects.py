"""JSON schemas, declared once and shared by every stream.

Shared building blocks (reference objects, MetaData, addresses, money, lines, tax detail) are
defined once; each QBO property name maps to one building block in `FIELDS`, and an entity's
schema is its list of property names (`entity_schema`). Every non-key property is nullable.

Money amounts carry `multipleOf: 0.01` (the target stores them as exact NUMERIC with two
decimals); rates, quantities and unit prices are plain numbers.
"""

from __future__ import annotations

import copy
import typing as t


def nullable(type_: str, **extra: t.Any) -> dict:
    return {"type": [type_, "null"], **extra}


STRING = nullable("string")
BOOLEAN = nullable("boolean")
INTEGER = nullable("integer")
NUMBER = nullable("number")
MONEY = nullable("number", multipleOf=0.01)
DATE = nullable("string", format="date")
DATETIME = nullable("string", format="date-time")


def obj(**properties: dict) -> dict:
    return {"type": ["object", "null"], "properties": properties}


def array(items: dict) -> dict:
    return {"type": ["array", "null"], "items": items}


REF = obj(value=STRING, name=STRING, type=STRING)
METADATA = obj(CreateTime=DATETIME, LastUpdatedTime=DATETIME, LastModifiedByRef=REF)
ADDRESS = obj(
    Id=STRING, Line1=STRING, Line2=STRING, Line3=STRING, Line4=STRING, Line5=STRING,
    City=STRING, Country=STRING, CountryCode=STRING, CountrySubDivisionCode=STRING,
    County=STRING, PostalCode=STRING, Lat=STRING, Long=STRING,
)
EMAIL = obj(Address=STRING)
PHONE = obj(FreeFormNumber=STRING)
WEBSITE = obj(URI=STRING)
CUSTOM_FIELDS = array(
    obj(DefinitionId=STRING, Name=STRING, Type=STRING, StringValue=STRING,
        NumberValue=NUMBER, DateValue=STRING, BooleanValue=BOOLEAN)
)
LINKED_TXNS = array(obj(TxnId=STRING, TxnType=STRING, TxnLineId=STRING))
NAME_VALUES = obj(any=array(obj(name=STRING, declaredType=STRING, scope=STRING,
                                value=obj(Name=STRING, Value=STRING), nil=BOOLEAN,
                                globalScope=BOOLEAN, typeSubstituted=BOOLEAN)))
MARKUP = obj(PercentBased=BOOLEAN, Value=NUMBER, Percent=NUMBER, PriceLevelRef=REF,
             MarkUpIncomeAccountRef=REF)
TAX_LINE_DETAIL = obj(TaxRateRef=REF, PercentBased=BOOLEAN, TaxPercent=NUMBER,
                      NetAmountTaxable=MONEY, TaxInclusiveAmount=MONEY,
                      OverrideDeltaAmount=MONEY)
TXN_TAX_DETAIL = obj(
    TxnTaxCodeRef=REF, TotalTax=MONEY,
    TaxLine=array(obj(Id=STRING, Amount=MONEY, DetailType=STRING, TaxLineDetail=TAX_LINE_DETAIL)),
)
ENTITY_REF = obj(Type=STRING, EntityRef=REF, value=STRING, name=STRING, type=STRING)

SALES_ITEM_DETAIL = obj(
    ItemRef=REF, ClassRef=REF, UnitPrice=NUMBER, Qty=NUMBER, RatePercent=NUMBER,
    ItemAccountRef=REF, TaxCodeRef=REF, TaxClassificationRef=REF, ServiceDate=DATE,
    TaxInclusiveAmt=MONEY, DiscountAmt=MONEY, DiscountRate=NUMBER, MarkupInfo=MARKUP,
    PriceLevelRef=REF,
)
LINE_PROPERTIES: dict[str, dict] = {
    "Id": STRING,
    "LineNum": INTEGER,
    "Description": STRING,
    "Amount": MONEY,
    "DetailType": STRING,
    "LinkedTxn": LINKED_TXNS,
    "LineEx": NAME_VALUES,
    "ProjectRef": REF,
    "SalesItemLineDetail": SALES_ITEM_DETAIL,
    "DiscountLineDetail": obj(PercentBased=BOOLEAN, DiscountPercent=NUMBER,
                              DiscountAccountRef=REF, ClassRef=REF, TaxCodeRef=REF),
    "SubTotalLineDetail": obj(ItemRef=REF),
    "DescriptionLineDetail": obj(ServiceDate=DATE, TaxCodeRef=REF),
    "DescriptionOnly": obj(ServiceDate=DATE, TaxCodeRef=REF),
    "GroupLineDetail": obj(GroupItemRef=REF, Quantity=NUMBER,
                           Line=array(obj(Id=STRING, LineNum=INTEGER, Description=STRING,
                                          Amount=MONEY, DetailType=STRING,
                                          SalesItemLineDetail=SALES_ITEM_DETAIL))),
    "AccountBasedExpenseLineDetail": obj(AccountRef=REF, CustomerRef=REF, ClassRef=REF,
                                         BillableStatus=STRING, TaxCodeRef=REF,
                                         TaxAmount=MONEY, TaxInclusiveAmt=MONEY,
                                         MarkupInfo=MARKUP),
    "ItemBasedExpenseLineDetail": obj(ItemRef=REF, CustomerRef=REF, ClassRef=REF,
                                      UnitPrice=NUMBER, Qty=NUMBER, BillableStatus=STRING,
                                      TaxCodeRef=REF, TaxInclusiveAmt=MONEY,
                                      PriceLevelRef=REF, MarkupInfo=MARKUP),
    "JournalEntryLineDetail": obj(PostingType=STRING, Entity=ENTITY_REF, AccountRef=REF,
                                  ClassRef=REF, DepartmentRef=REF, TaxCodeRef=REF,
                                  TaxApplicableOn=STRING, TaxAmount=MONEY,
                                  BillableStatus=STRING, JournalCodeRef=REF),
    "DepositLineDetail": obj(Entity=REF, ClassRef=REF, AccountRef=REF, PaymentMethodRef=REF,
                             CheckNum=STRING, TxnType=STRING, TaxCodeRef=REF,
                             TaxApplicableOn=STRING),
    "TDSLineDetail": obj(TDSSectionTypeId=STRING),
}
LINES = array(obj(**LINE_PROPERTIES))

# Every QBO property used by an entity below, mapped to its (shared) schema.
FIELDS: dict[str, dict] = {
    "domain": STRING, "sparse": BOOLEAN, "SyncToken": STRING, "MetaData": METADATA,
    # names and descriptions
    "Name": STRING, "FullyQualifiedName": STRING, "DisplayName": STRING, "Title": STRING,
    "GivenName": STRING, "MiddleName": STRING, "FamilyName": STRING, "Suffix": STRING,
    "CompanyName": STRING, "PrintOnCheckName": STRING, "Description": STRING,
    "Notes": STRING, "PrivateNote": STRING, "Memo": STRING, "AcctNum": STRING,
    "AccountAlias": STRING, "TaxIdentifier": STRING, "SSN": STRING, "EmployeeNumber": STRING,
    "Gender": STRING, "Organization": BOOLEAN, "ResaleNum": STRING, "BusinessNumber": STRING,
    "Sku": STRING, "Type": STRING, "SubType": STRING, "Classification": STRING,
    "AccountType": STRING, "AccountSubType": STRING, "PaymentType": STRING, "PayType": STRING,
    "PreferredDeliveryMethod": STRING, "PrintStatus": STRING, "EmailStatus": STRING,
    "TxnStatus": STRING, "POStatus": STRING, "POEmail": EMAIL, "GlobalTaxCalculation": STRING,
    "DocNumber": STRING, "PaymentRefNum": STRING, "TrackingNum": STRING, "FOB": STRING,
    "TransactionLocationType": STRING, "NameOf": STRING, "BillableStatus": STRING,
    "SpecialTaxType": STRING, "DisplayType": STRING, "TaxGroup": BOOLEAN, "Hidden": BOOLEAN,
    "PaymentMethodName": STRING, "FileName": STRING, "FileAccessUri": STRING,
    "TempDownloadUri": STRING, "ContentType": STRING, "Category": STRING, "Note": STRING,
    "ThumbnailFileAccessUri": STRING, "Size": NUMBER, "Level": INTEGER, "DueDays": INTEGER,
    "DiscountDays": INTEGER, "DayOfMonthDue": INTEGER, "DueNextMonthDays": INTEGER,
    "DiscountDayOfMonth": INTEGER, "DiscountPercent": NUMBER, "Hours": INTEGER,
    "Minutes": INTEGER, "BreakHours": INTEGER, "BreakMinutes": INTEGER,
    "CompanyStartDate": DATE, "FiscalYearStartMonth": STRING, "Country": STRING,
    "SupportedLanguages": STRING, "DefaultTimeZone": STRING, "BudgetType": STRING,
    "BudgetEntryType": STRING, "Code": STRING, "Symbol": STRING,
    "SourceCurrencyCode": STRING, "TargetCurrencyCode": STRING,
    # flags
    "Active": BOOLEAN, "SubAccount": BOOLEAN, "SubItem": BOOLEAN, "SubClass": BOOLEAN,
    "SubDepartment": BOOLEAN, "Taxable": BOOLEAN, "SalesTaxIncluded": BOOLEAN,
    "PurchaseTaxIncluded": BOOLEAN, "TrackQtyOnHand": BOOLEAN, "Job": BOOLEAN,
    "BillWithParent": BOOLEAN, "Vendor1099": BOOLEAN, "BillableTime": BOOLEAN,
    "ApplyTaxAfterDiscount": BOOLEAN, "AllowIPNPayment": BOOLEAN, "AllowOnlinePayment": BOOLEAN,
    "AllowOnlineCreditCardPayment": BOOLEAN, "AllowOnlineACHPayment": BOOLEAN,
    "ProcessPayment": BOOLEAN, "Credit": BOOLEAN, "Adjustment": BOOLEAN,
    "TaxTrackedOnPurchases": BOOLEAN, "TaxTrackedOnSales": BOOLEAN, "TaxTrackedOnSalesAccountRef": REF,
    "TaxRegistrationNumber": STRING, "ReportingPeriod": STRING, "LastFileDate": DATE,
    "IsBillable": BOOLEAN, "Billable": BOOLEAN, "HasBeenBilled": BOOLEAN,
    "IncludeOnSend": BOOLEAN, "FreeFormAddress": BOOLEAN, "PrintOnCheck": BOOLEAN,
    # dates
    "TxnDate": DATE, "DueDate": DATE, "ShipDate": DATE, "ExpirationDate": DATE,
    "AcceptedDate": DATE, "HiredDate": DATE, "ReleasedDate": DATE, "BirthDate": DATE,
    "InvStartDate": DATE, "StartDate": DATE, "EndDate": DATE, "AsOfDate": DATE,
    "StartTime": DATETIME, "EndTime": DATETIME, "OpenBalanceDate": DATE,
    # money
    "TotalAmt": MONEY, "HomeTotalAmt": MONEY, "Balance": MONEY, "HomeBalance": MONEY,
    "BalanceWithJobs": MONEY, "OpenBalance": MONEY, "CurrentBalance": MONEY,
    "CurrentBalanceWithSubAccounts": MONEY, "UnappliedAmt": MONEY, "RemainingCredit": MONEY,
    "Deposit": MONEY, "Amount": MONEY, "CostRate": NUMBER, "BillRate": NUMBER,
    "HourlyRate": NUMBER, "UnitPrice": NUMBER, "PurchaseCost": NUMBER, "QtyOnHand": NUMBER,
    "ReorderPoint": NUMBER, "RateValue": NUMBER, "ExchangeRate": NUMBER,
    "TaxExemptionReasonId": STRING, "TaxCodeRef": REF, "DepositToAccountRef": REF,
    # references
    "CurrencyRef": REF, "ParentRef": REF, "CustomerRef": REF, "VendorRef": REF,
    "EmployeeRef": REF, "ItemRef": REF, "ClassRef": REF, "DepartmentRef": REF,
    "AccountRef": REF, "APAccountRef": REF, "ARAccountRef": REF, "SalesTermRef": REF,
    "TermRef": REF, "PaymentMethodRef": REF, "ShipMethodRef": REF, "SalesRepRef": REF,
    "EntityRef": REF, "FromAccountRef": REF, "ToAccountRef": REF, "IncomeAccountRef": REF,
    "ExpenseAccountRef": REF, "AssetAccountRef": REF, "AgencyRef": REF, "TaxRateRef": REF,
    "CustomerTypeRef": REF, "DefaultTaxCodeRef": REF, "SalesTaxCodeRef": REF,
    "PurchaseTaxCodeRef": REF, "RecurDataRef": REF, "TaxAgencyRef": REF,
    "PrefVendorRef": REF, "ParentAccountRef": REF, "ProjectRef": REF,
    # structures
    "BillAddr": ADDRESS, "ShipAddr": ADDRESS, "ShipFromAddr": ADDRESS, "VendorAddr": ADDRESS,
    "PrimaryAddr": ADDRESS, "CompanyAddr": ADDRESS, "CustomerCommunicationAddr": ADDRESS,
    "LegalAddr": ADDRESS, "OtherAddr": ADDRESS,
    "PrimaryEmailAddr": EMAIL, "BillEmail": EMAIL, "BillEmailCc": EMAIL, "BillEmailBcc": EMAIL,
    "Email": EMAIL, "CustomerCommunicationEmailAddr": EMAIL,
    "PrimaryPhone": PHONE, "AlternatePhone": PHONE, "Mobile": PHONE, "Fax": PHONE,
    "WebAddr": WEBSITE, "CustomerMemo": obj(value=STRING),
    "CustomField": CUSTOM_FIELDS, "LinkedTxn": LINKED_TXNS, "Line": LINES,
    "TxnTaxDetail": TXN_TAX_DETAIL, "DeliveryInfo": obj(DeliveryType=STRING, DeliveryTime=DATETIME),
    "CheckPayment": obj(BankAccountRef=REF, PrintStatus=STRING),
    "CreditCardPayment": obj(CCAccountRef=REF),
    "CashBack": obj(AccountRef=REF, Amount=MONEY, Memo=STRING),
    "PurchaseEx": NAME_VALUES, "NameValue": array(obj(Name=STRING, Value=STRING)),
    "SalesTaxRateList": obj(TaxRateDetail=array(obj(TaxRateRef=REF, TaxTypeApplicable=STRING,
                                                    TaxOrder=INTEGER))),
    "PurchaseTaxRateList": obj(TaxRateDetail=array(obj(TaxRateRef=REF, TaxTypeApplicable=STRING,
                                                       TaxOrder=INTEGER))),
    "EffectiveTaxRate": array(obj(RateValue=NUMBER, EffectiveDate=DATETIME, EndDate=DATETIME)),
    "AttachableRef": array(obj(EntityRef=REF, LineInfo=STRING, IncludeOnSend=BOOLEAN,
                               Inactive=BOOLEAN, NoRefOnly=BOOLEAN)),
    "BudgetDetail": array(obj(BudgetDate=DATE, Amount=MONEY, AccountRef=REF, CustomerRef=REF,
                              ClassRef=REF, DepartmentRef=REF)),
    # preferences sections are kept as JSON objects (the target stores them as JSON text)
    "AccountingInfoPrefs": nullable("object"), "ProductAndServicesPrefs": nullable("object"),
    "SalesFormsPrefs": nullable("object"), "EmailMessagesPrefs": nullable("object"),
    "VendorAndPurchasesPrefs": nullable("object"), "TimeTrackingPrefs": nullable("object"),
    "TaxPrefs": nullable("object"), "CurrencyPrefs": nullable("object"),
    "ReportPrefs": nullable("object"), "OtherPrefs": nullable("object"),
}

TXN_COMMON = ("DocNumber TxnDate CurrencyRef ExchangeRate PrivateNote LinkedTxn Line "
              "DepartmentRef TxnTaxDetail CustomField TransactionLocationType HomeTotalAmt "
              "TotalAmt GlobalTaxCalculation")
SALES_COMMON = (TXN_COMMON + " CustomerRef CustomerMemo BillAddr ShipAddr ShipFromAddr "
                "ClassRef SalesTermRef DueDate ShipDate ShipMethodRef TrackingNum "
                "PrintStatus EmailStatus BillEmail BillEmailCc BillEmailBcc "
                "ApplyTaxAfterDiscount DeliveryInfo Balance HomeBalance DepositToAccountRef "
                "PaymentMethodRef PaymentRefNum FreeFormAddress ProjectRef RecurDataRef "
                "ARAccountRef")
PURCHASE_COMMON = TXN_COMMON + " VendorRef APAccountRef SalesTermRef DueDate Balance ProjectRef"
NAME_COMMON = "Name Active FullyQualifiedName ParentRef"
PERSON = ("Title GivenName MiddleName FamilyName Suffix DisplayName CompanyName "
          "PrintOnCheckName Active PrimaryPhone AlternatePhone Mobile Fax PrimaryEmailAddr "
          "WebAddr CurrencyRef Balance AcctNum TaxIdentifier Notes")

ENTITY_FIELDS: dict[str, str] = {
    "Account": NAME_COMMON + (" SubAccount Description Classification AccountType "
                              "AccountSubType AcctNum CurrentBalance "
                              "CurrentBalanceWithSubAccounts CurrencyRef TaxCodeRef"),
    "Attachable": ("FileName FileAccessUri TempDownloadUri Size ContentType Category Note "
                   "ThumbnailFileAccessUri AttachableRef"),
    "BillPayment": TXN_COMMON + " VendorRef PayType CheckPayment CreditCardPayment APAccountRef",
    "Bill": PURCHASE_COMMON + " HomeBalance",
    "Budget": "Name Active StartDate EndDate BudgetType BudgetEntryType BudgetDetail",
    "Class": NAME_COMMON + " SubClass",
    "CompanyInfo": ("CompanyName LegalName CompanyAddr CustomerCommunicationAddr LegalAddr "
                    "CustomerCommunicationEmailAddr PrimaryPhone Email WebAddr CompanyStartDate "
                    "FiscalYearStartMonth Country SupportedLanguages DefaultTimeZone NameValue"),
    "CreditMemo": SALES_COMMON + " RemainingCredit",
    "CustomerType": "Name Active",
    "Customer": PERSON + (" FullyQualifiedName ParentRef Job BillWithParent Level Taxable "
                          "BillAddr ShipAddr BalanceWithJobs OpenBalanceDate "
                          "PreferredDeliveryMethod ResaleNum DefaultTaxCodeRef SalesTermRef "
                          "PaymentMethodRef CustomerTypeRef TaxExemptionReasonId "
                          "BusinessNumber"),
    "Deposit": TXN_COMMON + " DepositToAccountRef CashBack",
    "Department": NAME_COMMON + " SubDepartment",
    "Employee": PERSON + (" PrimaryAddr EmployeeNumber SSN BillableTime BillRate CostRate "
                          "BirthDate Gender HiredDate ReleasedDate Organization"),
    "Estimate": SALES_COMMON + " TxnStatus ExpirationDate AcceptedDate SalesRepRef",
    "Invoice": SALES_COMMON + (" AllowIPNPayment AllowOnlinePayment AllowOnlineCreditCardPayment "
                               "AllowOnlineACHPayment Deposit SalesRepRef"),
    "Item": NAME_COMMON + (" Description Sku Type SubItem Taxable SalesTaxIncluded "
                           "PurchaseTaxIncluded UnitPrice PurchaseCost PurchaseDesc "
                           "TrackQtyOnHand QtyOnHand ReorderPoint InvStartDate IncomeAccountRef "
                           "ExpenseAccountRef AssetAccountRef SalesTaxCodeRef PurchaseTaxCodeRef "
                           "PrefVendorRef ClassRef Level"),
    "JournalEntry": TXN_COMMON + " Adjustment",
    "PaymentMethod": "Name Active Type",
    "Payment": TXN_COMMON + (" CustomerRef DepositToAccountRef PaymentMethodRef PaymentRefNum "
                             "ARAccountRef UnappliedAmt ProcessPayment ProjectRef"),
    "Preferences": ("AccountingInfoPrefs ProductAndServicesPrefs SalesFormsPrefs "
                    "EmailMessagesPrefs VendorAndPurchasesPrefs TimeTrackingPrefs TaxPrefs "
                    "CurrencyPrefs ReportPrefs OtherPrefs"),
    "PurchaseOrder": PURCHASE_COMMON + (" VendorAddr ShipAddr ShipTo POStatus POEmail "
                                        "ShipMethodRef Memo ClassRef"),
    "Purchase": TXN_COMMON + (" AccountRef PaymentType EntityRef Credit PaymentMethodRef "
                              "PaymentRefNum RemitToAddr PurchaseEx ProjectRef"),
    "RefundReceipt": SALES_COMMON,
    "SalesReceipt": SALES_COMMON,
    "TaxAgency": "DisplayName TaxTrackedOnPurchases TaxTrackedOnSales TaxRegistrationNumber "
                 "ReportingPeriod LastFileDate",
    "TaxCode": "Name Description Active Hidden Taxable TaxGroup SalesTaxRateList "
               "PurchaseTaxRateList",
    "TaxRate": "Name Description Active RateValue AgencyRef TaxReturnLineRef SpecialTaxType "
               "DisplayType EffectiveTaxRate",
    "Term": "Name Active Type DueDays DiscountDays DiscountPercent DayOfMonthDue "
            "DueNextMonthDays DiscountDayOfMonth",
    "TimeActivity": ("TxnDate NameOf EmployeeRef VendorRef CustomerRef DepartmentRef ItemRef "
                     "ClassRef PayrollItemRef BillableStatus Taxable HourlyRate CostRate Hours "
                     "Minutes BreakHours BreakMinutes StartTime EndTime Description ProjectRef"),
    "Transfer": "TxnDate FromAccountRef ToAccountRef Amount PrivateNote CurrencyRef ExchangeRate "
                "TransactionLocationType",
    "VendorCredit": PURCHASE_COMMON,
    "Vendor": PERSON + (" BillAddr OtherAddr Vendor1099 TermRef APAccountRef CostRate BillRate "
                        "BusinessNumber"),
    "CompanyCurrency": "Code Name Active",
    "Exchangerate": "SourceCurrencyCode TargetCurrencyCode Rate AsOfDate",
}

# Properties not in FIELDS default to these shapes.
_EXTRA = {
    "LegalName": STRING, "PurchaseDesc": STRING, "ShipTo": REF, "RemitToAddr": ADDRESS,
    "TaxReturnLineRef": REF, "PayrollItemRef": REF, "Rate": NUMBER,
}
FIELDS.update(_EXTRA)


def entity_schema(entity: str) -> dict:
    """The schema of an entity stream: keys, replication key, QBO properties, delete marker."""
    properties: dict[str, dict] = {
        "realm_id": {"type": ["string"]},
        "Id": {"type": ["string"]},
        "updated_at": DATETIME,
        "_sdc_deleted_at": DATETIME,
        "domain": STRING,
        "sparse": BOOLEAN,
        "SyncToken": STRING,
        "MetaData": METADATA,
    }
    for name in ENTITY_FIELDS[entity].split():
        properties[name] = FIELDS[name]
    return {"type": "object", "properties": copy.deepcopy(properties)}


def line_schema() -> dict:
    """The flat schema shared by every `*_lines` stream (see streams/lines.py)."""
    properties = {
        "realm_id": {"type": ["string"]},
        "txn_id": {"type": ["string"]},
        "line_index": INTEGER,
        "_sdc_deleted_at": DATETIME,
        "updated_at": DATETIME,
        "txn_type": STRING,
        "txn_date": DATE,
        "doc_number": STRING,
        "currency": STRING,
        "exchange_rate": NUMBER,
        "line_id": STRING,
        "line_num": INTEGER,
        "description": STRING,
        "detail_type": STRING,
        "amount": MONEY,
        "home_amount": MONEY,
        "posting_type": STRING,
        "quantity": NUMBER,
        "unit_price": NUMBER,
        "account_id": STRING, "account_name": STRING,
        "class_id": STRING, "class_name": STRING,
        "department_id": STRING, "department_name": STRING,
        "item_id": STRING, "item_name": STRING,
        "customer_id": STRING, "customer_name": STRING,
        "vendor_id": STRING, "vendor_name": STRING,
        "tax_code_id": STRING,
        "billable_status": STRING,
        "linked_txn_id": STRING, "linked_txn_type": STRING,
    }
    return {
        "type": "object",
        "properties": properties,
        "x-parent-key": ["realm_id", "txn_id"],
    }
