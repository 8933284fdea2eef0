<#
.SYNOPSIS
    The README's demo (build.ps1 -Task Demo): starts the bundled mock mail server on free
    loopback ports, sends messages with Send-SmtpMessage over STARTTLS with authentication,
    shows what the server received, then reads the mailbox with Get-Pop3Message, saves the
    messages to a folder and cleans up with Remove-Pop3Message: the full round trip.
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory)] [string] $ModulePath,
    [Parameter(Mandatory)] [string] $MockServerPath
)

$ErrorActionPreference = 'Stop'
Import-Module $ModulePath
Add-Type -Path $MockServerPath

$server = [MockMail.MockServer]::new()
$server.Start()
try {
    Write-Host "Mock mail server listening on $($server.Host):$($server.SmtpPort) (STARTTLS, AUTH PLAIN LOGIN XOAUTH2)"
    $password = ConvertTo-SecureString $server.Users['alice'] -AsPlainText -Force
    $credential = [pscredential]::new('alice', $password)

    # The mock's certificate is self-signed, which is why the demo skips the certificate check.
    $send = @{
        SmtpServer           = $server.Host
        Port                 = $server.SmtpPort
        UseSsl               = $true
        Credential           = $credential
        SkipCertificateCheck = $true
        From                 = 'Demo Sender <demo@example.com>'
        To                   = 'ops@example.com'
        Subject              = 'Hello from MailProtocols ✉'
        Body                 = "This message went out with Send-SmtpMessage at $(Get-Date -Format o)."
    }
    Write-Host "`n> Send-SmtpMessage @send"
    $result = Send-SmtpMessage @send
    $result | Format-List MessageId, From, Accepted, Rejected, SmtpServer, Port, TlsProtocol, ServerResponse, Elapsed | Out-Host

    $session = $server.SmtpSessions[-1]
    $message = $server.Messages[-1]
    Write-Host 'What the server recorded:'
    [pscustomobject]@{
        EhloName      = $session.EhloName
        Tls           = "$($session.Tls) ($($session.TlsProtocol))"
        Authenticated = "$($session.AuthUser) via $($session.AuthMechanism)"
        MailFrom      = $message.MailFrom
        RcptTo        = $message.AcceptedRecipients -join ', '
        Bytes         = $message.Data.Length
    } | Format-List | Out-Host
    Write-Host '--- message as received ---'
    Write-Host $message.DataText
    Write-Host '---------------------------'

    # The mock also delivers what it accepts over SMTP into the POP3 mailbox of each recipient
    # that is one of its users: alice here. Two more messages, from a CSV-like pipeline.
    $rows = 1..2 | ForEach-Object { [pscustomobject]@{ To = 'alice@example.com'; Subject = "ALERT $_ : disk space low"; Body = "Volume $_ is 95% full." } }
    $send.Remove('To'); $send.Remove('Subject'); $send.Remove('Body')
    Write-Host "`n> `$rows | Send-SmtpMessage @send   # one message per row, one connection"
    $rows | Send-SmtpMessage @send | Format-Table | Out-Host

    $pop = @{
        Pop3Server           = $server.Host
        Port                 = $server.Pop3Port
        Credential           = $credential
        SkipCertificateCheck = $true
    }
    Write-Host "> Get-Pop3Message @pop   # headers only (TOP n 0), over STLS"
    Get-Pop3Message @pop | Format-Table | Out-Host

    $folder = Join-Path ([IO.Path]::GetTempPath()) "mailprotocols-demo-$PID"
    $null = New-Item -ItemType Directory -Path $folder -Force
    Write-Host "> Get-Pop3Message @pop -Destination $folder   # streamed to <uid>.eml, atomically"
    Get-Pop3Message @pop -Destination $folder | Format-Table Uid, Subject, SavedPath | Out-Host

    Write-Host "> Get-Pop3Message @pop | Where-Object Subject -like 'ALERT*' | Remove-Pop3Message @pop -Force -PassThru"
    Get-Pop3Message @pop | Where-Object Subject -like 'ALERT*' | Remove-Pop3Message @pop -Force -PassThru | Format-Table | Out-Host

    Write-Host "> @(Get-Pop3Message @pop).Count   # what is left"
    Write-Host @(Get-Pop3Message @pop).Count
    Remove-Item $folder -Recurse -Force
}
finally {
    $server.Stop()
}
