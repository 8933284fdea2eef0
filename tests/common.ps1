# Dot-sourced by every test file in BeforeAll: imports the BUILT module (never the source) and
# the mock mail server, and gives the helpers the tests share.

$modulePath = if ($env:MAILPROTOCOLS_MODULE) { $env:MAILPROTOCOLS_MODULE } else {
    Get-ChildItem (Join-Path $PSScriptRoot '../out/MailProtocols') -Filter MailProtocols.psd1 -Recurse | Select-Object -First 1 -ExpandProperty FullName
}
$mockPath = if ($env:MAILPROTOCOLS_MOCKSERVER) { $env:MAILPROTOCOLS_MOCKSERVER } else {
    Join-Path $PSScriptRoot '../out/MockMailServer/MockMailServer.dll'
}
Import-Module $modulePath -Force
Add-Type -Path $mockPath
# The tests parse what the mock received with their own MimeKit: the copy shipped with the module.
Add-Type -Path (Join-Path (Split-Path $modulePath) 'MimeKit.dll')

function ConvertFrom-RawMessage {
    # Parses raw message bytes (as the mock recorded them) into a MimeKit.MimeMessage.
    param([byte[]] $Data)
    [MimeKit.MimeMessage]::Load([IO.MemoryStream]::new($Data))
}

function New-MockServer {
    # Starts the mock on free loopback ports; Start() returns once both listeners accept.
    $server = [MockMail.MockServer]::new()
    $server.Start()
    $server
}

function Get-MimeHeader {
    # The unfolded value of one header of a raw message.
    param([string] $Raw, [string] $Name)
    $head = ($Raw -split "`r`n`r`n", 2)[0] -replace "`r`n[ `t]+", ' '
    foreach ($line in $head -split "`r`n") {
        if ($line -match "^$([regex]::Escape($Name)):\s*(.*)$") { return $Matches[1] }
    }
}

function Invoke-Captured {
    # Runs a script block and returns every stream's records, and the text of the errors,
    # for scanning for secrets.
    param([scriptblock] $Script)
    $records = & {
        $VerbosePreference = 'Continue'
        $DebugPreference = 'Continue'
        $InformationPreference = 'Continue'
        $WarningPreference = 'Continue'
        & $Script
    } *>&1
    $text = foreach ($r in $records) {
        if ($r -is [System.Management.Automation.ErrorRecord]) {
            $r.ToString(); $r.Exception.ToString(); $r.Exception.InnerException | Out-String
            $r.TargetObject | Out-String
        }
        else { $r | Out-String; $r | Format-List * | Out-String }
    }
    [pscustomobject]@{ Records = $records; Text = ($text -join "`n") }
}
