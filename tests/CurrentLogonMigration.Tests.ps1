# The Send-MailMessage rule of Send-SmtpMessage: without -Credential, a relay that refuses the
# message for lack of authentication and offers AUTH GSSAPI gets the current logon's Kerberos
# ticket, and the message goes again on the same session. The renamed Send-MailMessage line runs
# as a user runs it: a child pwsh -NonInteractive -File whose KRB5_CONFIG and KRB5CCNAME name a
# throwaway MIT realm (tests/TestTools/Kerberos.ps1). Where the Kerberos packages cannot be
# installed, the tests that need a realm are skipped with the reason.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'TestTools/Kerberos.ps1')
    $script:noRealm = $null
    try {
        # Two realms: one with the RFC 4752 names (Postfix, Dovecot), one with only Exchange's.
        $script:realm = New-KerberosRealm
        $script:exchangeRealm = New-KerberosRealm -ServicePrincipal 'SMTPSVC/localhost'
    }
    catch {
        $script:noRealm = $_.Exception.Message
        Write-Warning "Kerberos tests skipped: $noRealm"
    }
    if (-not $noRealm) {
        [MockMail.MockServer]::UseKerberos($realm.ServiceKeytab, $realm.Environment.KRB5_CONFIG)
    }
    $script:mock = New-MockServer
    $script:refusal = '530 5.7.57 Client not authenticated to send mail. [MOCK01.mock.test]'

    function Invoke-Line {
        # Runs $Body as a script file in a child pwsh -NoProfile -NonInteractive -File, with the
        # module imported and the realm's KRB5_CONFIG and KRB5CCNAME (-CredentialCache overrides
        # the cache); returns ExitCode, Stdout, Stderr, Text (both) and Seconds.
        param([string] $Body, $Realm = $script:realm, [string] $CredentialCache = $Realm.Environment.KRB5CCNAME)
        $file = Join-Path $TestDrive "line-$([guid]::NewGuid().ToString('n')).ps1"
        Set-Content -LiteralPath $file -Value "Import-Module '$modulePath'`n$Body"
        $start = [Diagnostics.ProcessStartInfo]::new((Join-Path $PSHOME 'pwsh'))
        foreach ($argument in '-NoProfile', '-NonInteractive', '-File', $file) { $start.ArgumentList.Add($argument) }
        $start.UseShellExecute = $false
        $start.RedirectStandardOutput = $true
        $start.RedirectStandardError = $true
        $start.RedirectStandardInput = $true
        $start.Environment['KRB5_CONFIG'] = $Realm.Environment.KRB5_CONFIG
        $start.Environment['KRB5CCNAME'] = $CredentialCache
        $watch = [Diagnostics.Stopwatch]::StartNew()
        $process = [Diagnostics.Process]::Start($start)
        $process.StandardInput.Close()
        $stdout = $process.StandardOutput.ReadToEndAsync()
        $stderr = $process.StandardError.ReadToEndAsync()
        if (-not $process.WaitForExit(120000)) { $process.Kill($true); throw 'The child pwsh did not end within 120 s.' }
        [pscustomobject]@{
            ExitCode = $process.ExitCode
            Stdout   = $stdout.Result
            Stderr   = $stderr.Result
            Text     = $stdout.Result + $stderr.Result
            Seconds  = $watch.Elapsed.TotalSeconds
        }
    }

    function Assert-NoKerberosToken {
        # No base64 run long enough to be a ticket in what the user saw or the transcript, and no
        # line the client sent in the exchange (what the mock recorded).
        param([string] $Text, [string[]] $Sent)
        $Text | Should -Not -Match '[A-Za-z0-9+/]{40,}'
        $tokens = @($Sent | Where-Object { $_ -match '^[A-Za-z0-9+/=]{16,}$' })
        $tokens.Count | Should -BeGreaterThan 0
        foreach ($token in $tokens) { $Text | Should -Not -BeLike "*$token*" }
    }

    function Skip-WithoutRealm {
        if ($noRealm) { Set-ItResult -Skipped -Because $noRealm }
        [bool]$noRealm
    }

    function Get-KdcLog {
        param($Realm)
        Get-Content -LiteralPath (Join-Path $Realm.Directory 'kdc.log') -Raw
    }
}

AfterAll {
    if ($mock) { $mock.Dispose() }
    Remove-KerberosRealm $realm
    Remove-KerberosRealm $exchangeRealm
}

Describe 'The Send-MailMessage rule: a relay that refuses anonymous mail gets the current logon' -Tag 'Kerberos' {
    BeforeEach {
        $mock.Reset()
        $mock.Smtp.AuthMechanisms = @('GSSAPI', 'NTLM')
        $script:transcript = Join-Path $TestDrive "transcript-$([guid]::NewGuid().ToString('n')).log"
    }

    It 'the renamed Send-MailMessage line delivers (530 5.7.57 at MAIL FROM), says why, and the next line runs' {
        if (Skip-WithoutRealm) { return }
        $mock.Smtp.UnauthenticatedMailReply = $refusal
        $run = Invoke-Line @"
`$DebugPreference = 'Continue'
`$InformationPreference = 'Continue'
`$r = Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -From ops@example.com -To it@example.com -Subject 'Backup done' -Body 'All good.' -TranscriptPath '$transcript' -Verbose
'RESULT ' + (`$r | Select-Object AuthenticationMechanism, AutomaticSignIn, Attempts, Accepted | ConvertTo-Json -Compress)
'NEXT LINE RAN'
"@
        $run.ExitCode | Should -Be 0
        $run.Stderr | Should -BeNullOrEmpty
        $run.Stdout | Should -Match '(?m)^NEXT LINE RAN'
        $result = (($run.Stdout -split "`n") | Where-Object { $_ -like 'RESULT *' }).Substring(7) | ConvertFrom-Json
        $result.AuthenticationMechanism | Should -Be 'GSSAPI'
        $result.AutomaticSignIn | Should -BeTrue
        $result.Attempts | Should -Be 2
        $run.Stdout | Should -Match 'Signed in with the current logon \(GSSAPI\) because the server localhost:\d+ refused mail without authentication'
        $mock.Messages.Count | Should -Be 1
        $session = $mock.SmtpSessions[0]
        $mock.SmtpSessions.Count | Should -Be 1
        $session.Tls | Should -BeTrue   # STARTTLS, its certificate unvalidated: Kerberos proves the server
        $session.AuthMechanism | Should -Be 'GSSAPI'
        $session.AuthUser | Should -Be $realm.ClientPrincipal
        $log = Get-Content -LiteralPath $transcript -Raw
        $log | Should -Match '530 5\.7\.57[\s\S]*C: AUTH GSSAPI[\s\S]*235'
        Assert-NoKerberosToken -Text ($run.Text + $log) -Sent $session.Commands
    }

    It 'keeps the session signed in: three piped rows, pipelined with CHUNKING, each delivered once after one sign-in' {
        if (Skip-WithoutRealm) { return }
        $mock.Smtp.UnauthenticatedMailReply = $refusal
        $mock.Smtp.Chunking = $true
        $run = Invoke-Line @"
`$rows = 1..3 | ForEach-Object { [pscustomobject]@{ From = 'ops@example.com'; To = "r`$_@example.com"; Subject = "row `$_"; Body = 'x' } }
`$results = @(`$rows | Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -TranscriptPath '$transcript')
'RESULT ' + (@(`$results | ForEach-Object { "`$(`$_.Subject)/`$(`$_.AuthenticationMechanism)/`$(`$_.AutomaticSignIn)" }) -join ',')
"@
        $run.ExitCode | Should -Be 0
        $run.Stderr | Should -BeNullOrEmpty
        $run.Stdout | Should -Match 'RESULT row 1/GSSAPI/True,row 2/GSSAPI/True,row 3/GSSAPI/True'
        @($mock.Messages | ForEach-Object { $_.AcceptedRecipients }) | Sort-Object | Should -Be @('r1@example.com', 'r2@example.com', 'r3@example.com')
        $mock.SmtpSessions.Count | Should -Be 1
        $commands = $mock.SmtpSessions[0].Commands
        @($commands | Where-Object { $_ -like 'AUTH *' }).Count | Should -Be 1
        # The refused MAIL of row 1 came before the sign-in; every other MAIL was taken.
        $firstAuth = [array]::IndexOf([string[]]$commands, 'AUTH GSSAPI')
        @($commands[($firstAuth + 1)..($commands.Count - 1)] | Where-Object { $_ -like 'MAIL FROM:*' }).Count | Should -Be 3
    }

    It 'signs in only once no reply is outstanding: a new row issued while an earlier row''s refusal is still to come' {
        if (Skip-WithoutRealm) { return }
        # Row 1 is refused and read before row 3 goes; row 2's refusal (its MAIL delayed) is still
        # outstanding then, and must be read before AUTH, or it would be taken for AUTH's reply.
        $mock.Smtp.UnauthenticatedMailReply = $refusal
        $mock.Smtp.Chunking = $true
        # Row 1's refusal comes after row 2 went out, row 2's after row 3 was issued.
        $mock.AddRule([MockMail.SmtpRule]@{ Command = 'MAIL'; ArgumentContains = 'ops@'; Action = 'Delay'; DelayMs = 300; Times = 1 })
        $mock.AddRule([MockMail.SmtpRule]@{ Command = 'MAIL'; ArgumentContains = 'slow@'; Action = 'Delay'; DelayMs = 2000; Times = 1 })
        $run = Invoke-Line @"
`$rows = @(
    [pscustomobject]@{ From = 'ops@example.com'; To = 'r1@example.com'; Subject = 'row 1'; Body = 'x' }
    [pscustomobject]@{ From = 'slow@example.com'; To = 'r2@example.com'; Subject = 'row 2'; Body = 'x' }
    [pscustomobject]@{ From = 'ops@example.com'; To = 'r3@example.com'; Subject = 'row 3'; Body = 'x' }
)
`$results = @(`$rows | ForEach-Object { if (`$_.Subject -eq 'row 3') { Start-Sleep -Milliseconds 1000 }; `$_ } | Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None)
'RESULT ' + (@(`$results | ForEach-Object { "`$(`$_.Subject)/`$(`$_.AutomaticSignIn)" }) -join ',')
"@
        $run.Stderr | Should -BeNullOrEmpty
        $run.Stdout | Should -Match 'RESULT row 1/True,row 2/True,row 3/True'
        @($mock.Messages | ForEach-Object { $_.AcceptedRecipients }) | Sort-Object | Should -Be @('r1@example.com', 'r2@example.com', 'r3@example.com')
        @($mock.SmtpSessions[0].Commands | Where-Object { $_ -like 'AUTH *' }).Count | Should -Be 1
    }

    It 'signs in after a relay refusal at RCPT TO (550 5.7.54): the internal recipient got it at once, the external one after the sign-in, each once' {
        if (Skip-WithoutRealm) { return }
        $mock.Smtp.UnauthenticatedRelayReply = '550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain'
        $mock.Smtp.AcceptedDomain = 'corp.example'
        $run = Invoke-Line @"
`$r = Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -From ops@corp.example -To it@corp.example, partner@example.net -Subject s -Body x
'RESULT ' + (`$r | Select-Object @{ n = 'Accepted'; e = { `$_.Accepted -join ' ' } }, @{ n = 'Rejected'; e = { `$_.Rejected.Count } }, AutomaticSignIn | ConvertTo-Json -Compress)
"@
        $run.ExitCode | Should -Be 0
        $run.Stderr | Should -BeNullOrEmpty
        $result = (($run.Stdout -split "`n") | Where-Object { $_ -like 'RESULT *' }).Substring(7) | ConvertFrom-Json
        $result.Accepted | Should -Be 'it@corp.example partner@example.net'
        $result.Rejected | Should -Be 0
        $result.AutomaticSignIn | Should -BeTrue
        $mock.Messages.Count | Should -Be 2
        @($mock.Messages | ForEach-Object { , @($_.AcceptedRecipients) }) | Should -Be @('it@corp.example', 'partner@example.net')
        $mock.Messages[1].AuthUser | Should -Be $realm.ClientPrincipal
    }

    It 'without a ticket: AuthenticationRequired names the missing logon; -ErrorAction SilentlyContinue prints nothing, no prompt, the next line runs' {
        if (Skip-WithoutRealm) { return }
        $mock.Smtp.UnauthenticatedMailReply = $refusal
        $empty = 'FILE:' + (Join-Path $TestDrive 'no-such-ccache')
        $run = Invoke-Line -CredentialCache $empty @"
Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -TimeoutSec 5 -From ops@example.com -To it@example.com -Subject s -Body x -ErrorAction SilentlyContinue -ErrorVariable ev
'ID ' + `$ev[0].FullyQualifiedErrorId
'CATEGORY ' + `$ev[0].CategoryInfo.Category
'MESSAGE ' + `$ev[0].Exception.Message
'NEXT LINE RAN'
"@
        $run.ExitCode | Should -Be 0
        $run.Stderr | Should -BeNullOrEmpty
        $lines = $run.Stdout -split "`r?`n" | Where-Object { $_ }
        $lines[0] | Should -BeLike 'ID AuthenticationRequired,*'
        $lines[1] | Should -Be 'CATEGORY AuthenticationError'
        $lines[2] | Should -Match '530 5\.7\.57 Client not authenticated'
        $lines[2] | Should -Match 'Send-MailMessage would have signed in as the current logon: no Kerberos ticket was found'
        $lines[2] | Should -Match 'kinit'
        $lines[2] | Should -Match '-Credential'
        $lines[-1] | Should -Be 'NEXT LINE RAN'
        $lines.Count | Should -Be 4   # nothing else printed
        $run.Seconds | Should -BeLessThan 30
        $mock.Messages.Count | Should -Be 0
        @($mock.SmtpSessions.Commands | Where-Object { $_ -like 'AUTH *' }).Count | Should -Be 0   # the ticket was missing before anything went out
    }

    It 'without a ticket, as a script ends: the error goes to stderr and the exit code says so' {
        if (Skip-WithoutRealm) { return }
        $mock.Smtp.UnauthenticatedMailReply = $refusal
        $empty = 'FILE:' + (Join-Path $TestDrive 'no-such-ccache')
        $run = Invoke-Line -CredentialCache $empty @"
`$ErrorActionPreference = 'Stop'
Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -TimeoutSec 5 -From ops@example.com -To it@example.com -Subject s -Body x
'NOT REACHED'
"@
        $run.ExitCode | Should -Be 1
        $run.Stdout | Should -Not -Match 'NOT REACHED'
        $run.Text | Should -Match 'no Kerberos ticket was found'
    }
}

Describe 'The Send-MailMessage rule where the current logon cannot help, and turned off' -Tag 'Kerberos' {
    BeforeEach {
        $mock.Reset()
        $mock.Smtp.UnauthenticatedMailReply = $refusal
    }

    It 'a relay that refuses anonymous mail but offers no GSSAPI: the refusal, with the hint' {
        $mock.Smtp.AuthMechanisms = @('PLAIN', 'LOGIN')
        Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -TlsMode None -TimeoutSec 5 -From ops@example.com -To it@example.com -Subject s -Body x -ErrorAction SilentlyContinue -ErrorVariable ev
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'AuthenticationRequired,*'
        $ev[0].Exception.Message | Should -Match '530 5\.7\.57 Client not authenticated'
        $ev[0].Exception.Message | Should -Match 'does not offer Kerberos \(AUTH GSSAPI\).*it offers: PLAIN, LOGIN'
        $ev[0].Exception.Message | Should -Match 'or give -Credential'
        @($mock.SmtpSessions[0].Commands | Where-Object { $_ -like 'AUTH *' }).Count | Should -Be 0
    }

    It '-UseDefaultCredentials:$false turns the rule off: the plain refusal, no AUTH' {
        $mock.Smtp.AuthMechanisms = @('GSSAPI')
        Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -TlsMode None -TimeoutSec 5 -UseDefaultCredentials:$false -From ops@example.com -To it@example.com -Subject s -Body x -ErrorAction SilentlyContinue -ErrorVariable ev
        $ev.Count | Should -Be 1
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'SenderRejected,*'
        $ev[0].Exception.Message | Should -Not -Match 'current logon'
        @($mock.SmtpSessions[0].Commands | Where-Object { $_ -like 'AUTH *' }).Count | Should -Be 0
        $mock.Messages.Count | Should -Be 0
    }

    It 'a refusal that is not about authentication (550 5.7.1 spam) gets no sign-in and no hint' {
        $mock.Smtp.UnauthenticatedMailReply = $null
        $mock.Smtp.AuthMechanisms = @('GSSAPI')
        $null = $mock.ReplyTo('RCPT', '550 5.7.1 Message rejected as spam by Content Filtering')
        Send-SmtpMessage -SmtpServer $mock.Host -Port $mock.SmtpPort -TlsMode None -TimeoutSec 5 -From ops@example.com -To it@example.com -Subject s -Body x -ErrorAction SilentlyContinue -ErrorVariable ev
        $ev[0].FullyQualifiedErrorId | Should -BeLike 'AllRecipientsRejected,*'
        $ev[0].Exception.Message | Should -Not -Match 'current logon'
        @($mock.SmtpSessions[0].Commands | Where-Object { $_ -like 'AUTH *' }).Count | Should -Be 0
    }
}

Describe 'The SMTP service principal: smtp/host (RFC 4752), else SMTPSVC/host (Exchange)' -Tag 'Kerberos' {
    BeforeEach {
        $mock.Reset()
        $mock.Smtp.AuthMechanisms = @('GSSAPI')
        $script:transcript = Join-Path $TestDrive "transcript-$([guid]::NewGuid().ToString('n')).log"
    }

    AfterEach {
        if (-not $noRealm) { [MockMail.MockServer]::UseKerberos($realm.ServiceKeytab, $realm.Environment.KRB5_CONFIG) }
    }

    It 'a realm with only SMTPSVC/localhost: <Case> signs in as SMTPSVC/localhost, after the KDC said it has no smtp/localhost, with one AUTH' -ForEach @(
        @{ Case = '-UseDefaultCredentials'; Line = '-UseDefaultCredentials'; Refuse = $false }
        @{ Case = 'the Send-MailMessage rule'; Line = ''; Refuse = $true }
    ) {
        if (Skip-WithoutRealm) { return }
        [MockMail.MockServer]::UseKerberos($exchangeRealm.ServiceKeytab, $exchangeRealm.Environment.KRB5_CONFIG)
        if ($Refuse) { $mock.Smtp.UnauthenticatedMailReply = $refusal }
        $run = Invoke-Line -Realm $exchangeRealm @"
`$r = Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None $Line -From ops@example.com -To it@example.com -Subject s -Body x -TranscriptPath '$transcript'
'MECHANISM ' + `$r.AuthenticationMechanism
"@
        $run.Stderr | Should -BeNullOrEmpty
        $run.Stdout | Should -Match 'MECHANISM GSSAPI'
        $mock.Messages.Count | Should -Be 1
        $mock.SmtpSessions[0].AuthUser | Should -Be $exchangeRealm.ClientPrincipal
        @(Select-String -LiteralPath $transcript -Pattern 'C: AUTH GSSAPI').Count | Should -Be 1
        $kdc = Get-KdcLog $exchangeRealm
        $kdc | Should -Match 'smtp/localhost@MAILTEST\.INVALID, Server not found in Kerberos database'
        $kdc | Should -Match 'ISSUE[^\n]*SMTPSVC/localhost@MAILTEST\.INVALID'
    }

    It 'a realm with only smtp/localhost: smtp/localhost first, no request for SMTPSVC' {
        if (Skip-WithoutRealm) { return }
        $onlyRfc = New-KerberosRealm -ServicePrincipal 'smtp/localhost'
        try {
            [MockMail.MockServer]::UseKerberos($onlyRfc.ServiceKeytab, $onlyRfc.Environment.KRB5_CONFIG)
            $mock.Smtp.UnauthenticatedMailReply = $refusal
            $run = Invoke-Line -Realm $onlyRfc @"
`$r = Send-SmtpMessage -SmtpServer localhost -Port $($mock.SmtpPort) -TlsMode None -From ops@example.com -To it@example.com -Subject s -Body x
'MECHANISM ' + `$r.AuthenticationMechanism
"@
            $run.Stderr | Should -BeNullOrEmpty
            $run.Stdout | Should -Match 'MECHANISM GSSAPI'
            $mock.Messages.Count | Should -Be 1
            $kdc = Get-KdcLog $onlyRfc
            $kdc | Should -Match 'ISSUE[^\n]*smtp/localhost@MAILTEST\.INVALID'
            $kdc | Should -Not -Match 'Server not found'
            $kdc | Should -Not -Match 'SMTPSVC'
        }
        finally { Remove-KerberosRealm $onlyRfc }
    }

    It 'neither principal: KerberosServicePrincipalUnknown names both, nothing sent to the server' {
        if (Skip-WithoutRealm) { return }
        $run = Invoke-Line @"
Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $($mock.SmtpPort) -TlsMode None -UseDefaultCredentials -TimeoutSec 5 -From ops@example.com -To it@example.com -Subject s -ErrorAction SilentlyContinue -ErrorVariable ev
'ID ' + `$ev[0].FullyQualifiedErrorId
'MESSAGE ' + `$ev[0].Exception.Message
"@
        $run.Stdout | Should -Match 'ID KerberosServicePrincipalUnknown,'
        $run.Stdout | Should -Match 'smtp/127\.0\.0\.1 nor for SMTPSVC/127\.0\.0\.1'
        @($mock.SmtpSessions.Commands | Where-Object { $_ -like 'AUTH *' }).Count | Should -Be 0
    }
}
