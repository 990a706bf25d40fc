// Faultline's own telemetry at a glance: an Azure Workbook over the metrics the code emits
// (pipeline/metrics.py, in Application Insights' customMetrics), and log search alert rules on
// poisoned messages, on query lag beyond a bound and on failed executions. Both query the
// Application Insights component with its classic table names (customMetrics, requests, traces),
// which a workspace-based component still answers. tests/unit/test_telemetry.py checks that
// every metric and dimension they read is one the code emits.
//
// The alert rules always exist: a fired alert shows in the portal's Alerts view. They e-mail
// through an action group only when an address is given; without one no action group is created
// (an action group with no receiver would notify nobody and only look as if it did).

@description('Azure region of the workbook and the alert rules (the component\'s own region).')
param location string

@description('Tags applied to every resource.')
param tags object = {}

@description('Name of the Application Insights component the app sends its telemetry to.')
param applicationInsightsName string

@description('Name of the action group that e-mails the alerts (created only with alertEmail).')
param actionGroupName string

@description('Prefix of the alert rules\' names.')
param alertRulePrefix string

@description('E-mail address the alerts go to; empty: the rules fire in the portal only.')
param alertEmail string = ''

@minValue(5)
@maxValue(1440)
@description('Query lag, in minutes, beyond which a table\'s lag alerts.')
param lagAlertMinutes int = 30

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

var emailEnabled = !empty(alertEmail)
var workbookJson = loadTextContent('workbook.json')

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(applicationInsights.id, 'faultline-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Faultline'
    category: 'workbook'
    sourceId: applicationInsights.id
    serializedData: replace(workbookJson, '__APPLICATION_INSIGHTS__', applicationInsights.id)
  }
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (emailEnabled) {
  name: actionGroupName
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'faultline'
    enabled: true
    emailReceivers: [
      {
        name: 'operators'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var alertActions = emailEnabled ? [actionGroup.id] : []

// Anything poisoned needs a person: a query the service refuses, a notice the workflow could not
// take, an issue GitHub refused (the token, its permissions or the rules must change).
resource poisonedAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertRulePrefix}-poisoned'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Faultline: poisoned messages'
    description: 'Faultline kept a message as poisoned in the last 15 minutes (query job, failure notice or refused issue). GET /api/health lists them with their reason.'
    severity: 1
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      applicationInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: loadTextContent('alerts/poisoned.kql')
          timeAggregation: 'Total'
          metricMeasureColumn: 'poisoned'
          dimensions: [
            {
              name: 'kind'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: alertActions
    }
  }
}

// Lag beyond the bound: a table's jobs finish far behind their window (throttling, slots held,
// a backlog after an outage). Normal lag is the ingestion delay plus a little.
resource lagAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertRulePrefix}-query-lag'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Faultline: query lag'
    description: 'A table\'s query jobs finished more than ${lagAlertMinutes} minutes behind the end of their window in the last 15 minutes.'
    severity: 2
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      applicationInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: loadTextContent('alerts/query-lag.kql')
          timeAggregation: 'Maximum'
          metricMeasureColumn: 'lag_seconds'
          dimensions: [
            {
              name: 'table'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: lagAlertMinutes * 60
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: alertActions
    }
  }
}

resource failedExecutionsAlert 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: '${alertRulePrefix}-failed-executions'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Faultline: failed executions'
    description: 'A Faultline function ended in an exception in the last 15 minutes (the host retries queue messages; the exception is in Application Insights).'
    severity: 2
    enabled: true
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    scopes: [
      applicationInsights.id
    ]
    criteria: {
      allOf: [
        {
          query: loadTextContent('alerts/failed-executions.kql')
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'name'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
        }
      ]
    }
    autoMitigate: true
    actions: {
      actionGroups: alertActions
    }
  }
}
