// The app's own telemetry: a Log Analytics workspace behind Application Insights, both with local
// (key-based) authentication off, so only Entra ID identities can send or read telemetry. The app
// sends with its identity: Monitoring Metrics Publisher on Application Insights (rbac.bicep) and
// APPLICATIONINSIGHTS_AUTHENTICATION_STRING (api.bicep).
//
// The same workspace holds the smoke test's table (scripts/smoke.py): FaultlineSmoke_CL, written
// through the Logs Ingestion API by a data collection rule of kind Direct, which carries its own
// logsIngestion endpoint (no data collection endpoint needed without private link). Whoever runs
// the smoke test gets Monitoring Metrics Publisher on the rule (rbac.bicep); nothing else writes
// to the table. Both cost nothing until a record is sent.

@description('Name of the Log Analytics workspace for the app\'s own telemetry.')
param logAnalyticsName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Azure region of both resources.')
param location string

@description('Tags applied to both resources.')
param tags object = {}

@description('Days to keep the app\'s own logs.')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

@description('Name of the data collection rule the smoke test sends its records through.')
param smokeRuleName string

// The smoke table's columns, in the rule's stream and in the table alike (the rule's transform is
// `source`: records land as sent). Types: a stream says `datetime`, a table says `dateTime`.
var smokeTableName = 'FaultlineSmoke_CL'
var smokeStreamName = 'Custom-${smokeTableName}'
var smokeStringColumns = [
  {
    name: 'Level'
    type: 'string'
  }
  {
    name: 'Message'
    type: 'string'
  }
  {
    name: 'Service'
    type: 'string'
  }
  {
    name: 'RunId'
    type: 'string'
  }
]
var streamTimeColumn = {
  name: 'TimeGenerated'
  type: 'datetime'
}
var tableTimeColumn = {
  name: 'TimeGenerated'
  type: 'dateTime'
}
var smokeStreamColumns = concat([streamTimeColumn], smokeStringColumns)
var smokeTableColumns = concat([tableTimeColumn], smokeStringColumns)

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: logAnalyticsName
  location: location
  tags: tags
  properties: {
    retentionInDays: retentionInDays
    sku: {
      name: 'PerGB2018'
    }
    features: {
      // No workspace keys: no Log Analytics agent or Data Collector API ingestion, only Entra ID.
      disableLocalAuth: true
    }
  }
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' = {
  name: applicationInsightsName
  location: location
  tags: tags
  kind: 'web'
  properties: {
    Application_Type: 'web'
    WorkspaceResourceId: logAnalytics.id
    DisableLocalAuth: true
  }
}

// What the smoke test writes: one table in the app's own workspace, kept as long as the workspace
// keeps its logs (records cannot be deleted one by one; retention removes them).
resource smokeTable 'Microsoft.OperationalInsights/workspaces/tables@2023-09-01' = {
  parent: logAnalytics
  name: smokeTableName
  properties: {
    plan: 'Analytics'
    retentionInDays: retentionInDays
    schema: {
      name: smokeTableName
      description: 'Synthetic failures written by Faultline\'s smoke test (scripts/smoke.py)'
      columns: smokeTableColumns
    }
  }
}

// kind Direct: the rule gets its own logs ingestion endpoint (properties.endpoints.logsIngestion),
// which the Logs Ingestion API is called on.
resource smokeRule 'Microsoft.Insights/dataCollectionRules@2023-03-11' = {
  name: smokeRuleName
  location: location
  tags: tags
  kind: 'Direct'
  properties: {
    description: 'Faultline smoke test: records sent to ${smokeStreamName} land in ${smokeTableName}'
    streamDeclarations: {
      '${smokeStreamName}': {
        columns: smokeStreamColumns
      }
    }
    destinations: {
      logAnalytics: [
        {
          name: 'faultlineWorkspace'
          workspaceResourceId: logAnalytics.id
        }
      ]
    }
    dataFlows: [
      {
        streams: [
          smokeStreamName
        ]
        destinations: [
          'faultlineWorkspace'
        ]
        transformKql: 'source'
        outputStream: smokeStreamName
      }
    ]
  }
  // The output stream's table must exist before a rule may send to it.
  dependsOn: [
    smokeTable
  ]
}

output applicationInsightsId string = applicationInsights.id
output applicationInsightsName string = applicationInsights.name
output connectionString string = applicationInsights.properties.ConnectionString
output logAnalyticsId string = logAnalytics.id
output logAnalyticsName string = logAnalytics.name
@description('The workspace id (GUID) that queries address.')
output logAnalyticsCustomerId string = logAnalytics.properties.customerId
output smokeRuleName string = smokeRule.name
@description('The rule\'s own Logs Ingestion API endpoint (kind Direct).')
output smokeIngestionEndpoint string = smokeRule.properties.endpoints.logsIngestion
output smokeRuleImmutableId string = smokeRule.properties.immutableId
output smokeStreamName string = smokeStreamName
output smokeTableName string = smokeTableName
