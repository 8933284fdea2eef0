# -AuthenticationMechanism and -ExcludeAuthenticationMechanism (choosing or ruling out how a
# password signs in), and NTLM with explicit DOMAIN\user credentials: the mock's AUTH NTLM runs
# gss-ntlmssp under .NET's NegotiateAuthentication, so the NTLM answer is checked by code this
# project did not write. Where gss-ntlmssp cannot be installed, the NTLM sign-ins are skipped
# with the reason.

BeforeAll {
    . (Join-Path $PSScriptRoot 'common.ps1')
    . (Join-Path $PSScriptRoot 'TestTools/Ntlm.ps1')
    $script:password = 'Secr3t!Pa55'
    $script:ntlmPassword = 'C4rol!Ntlm-pw'
    $script:alice = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))
    $script:carol = [pscredential]::new('MAILTEST\carol', (ConvertTo-SecureString $ntlmPassword -AsPlainText -Force))
    $script:noNtlm = Install-GssNtlmssp
    if ($noNtlm) { Write-Warning "NTLM sign-in tests skipped: $noNtlm" }
    else { [MockMail.MockServer]::UseNtlm((New-NtlmUserFile -Path (Join-Path $TestDrive 'ntlm-users') -User @{ 'MAILTEST\carol' = $ntlmPassword })) }
    $script:mock = New-MockServer

    function Invoke-Command3 {
        # Runs one of the three commands against the mock with the parameters given; every stream
        # captured (Invoke-Captured), errors collected rather than thrown.
        param([string] $Command, [hashtable] $With)
        $common = @{ TimeoutSec = 5; ErrorAction = 'Continue' } + $With
        $captured = Invoke-Captured {
            switch ($Command) {
                'Send-SmtpMessage' { Send-SmtpMessage @common -SmtpServer $mock.Host -Port $mock.SmtpPort -From ops@example.com -To a@example.com -Subject s -Body b }
                'Get-Pop3Message' { Get-Pop3Message @common -Pop3Server $mock.Host -Port $mock.Pop3Port }
                'Remove-Pop3Message' { Remove-Pop3Message @common -Pop3Server $mock.Host -Port $mock.Pop3Port -Uid $aliceUid -Confirm:$false }
            }
        }
        $captured | Add-Member Failures @($captured.Records | Where-Object { $_ -is [Management.Automation.ErrorRecord] }) -PassThru
    }

    function Get-Sessions {
        param([string] $Command)
        if ($Command -eq 'Send-SmtpMessage') { $mock.SmtpSessions } else { $mock.Pop3Sessions }
    }

    function Reset-Mock {
        # For BeforeEach: a fresh mock and a transcript path of the test's own.
        $mock.Reset()
        $script:aliceUid = $mock.AddMessage('alice', "From: a@example.com`r`nTo: alice@example.com`r`nSubject: to delete`r`n`r`nbody`r`n")
        $script:transcript = Join-Path $TestDrive "transcript-$([guid]::NewGuid().ToString('n')).log"
    }

    function Offer {
        # The mechanisms the mock offers on both sides.
        param([string[]] $Mechanism)
        $mock.Smtp.AuthMechanisms = $Mechanism
        $mock.Pop3.SaslMechanisms = $Mechanism
    }
}

AfterAll {
    $mock.Dispose()
}

Describe 'Choosing and excluding sign-in mechanisms' {
    BeforeEach { Reset-Mock }

    It '<Command> -ExcludeAuthenticationMechanism <Exclude> signs in with the next mechanism offered (<Expected>), sending no AUTH <Exclude>' -ForEach @(
        # POP3 uses NTLM only when chosen, so there PLAIN is what the exclusion skips.
        @{ Command = 'Send-SmtpMessage'; Offered = 'NTLM', 'PLAIN'; Exclude = 'NTLM'; Expected = 'PLAIN' }
        @{ Command = 'Get-Pop3Message'; Offered = 'NTLM', 'PLAIN', 'LOGIN'; Exclude = 'PLAIN'; Expected = 'LOGIN' }
        @{ Command = 'Remove-Pop3Message'; Offered = 'NTLM', 'PLAIN', 'LOGIN'; Exclude = 'PLAIN'; Expected = 'LOGIN' }
    ) {
        Offer $Offered
        $run = Invoke-Command3 $Command @{ Credential = $alice; SkipCertificateCheck = $true; ExcludeAuthenticationMechanism = $Exclude.ToLowerInvariant(); TranscriptPath = $transcript }
        $run.Failures | Should -BeNullOrEmpty
        @(Get-Sessions $Command | ForEach-Object AuthMechanism) | Should -Be @($Expected)
        @(Get-Sessions $Command | ForEach-Object Commands) -like "AUTH $Exclude*" | Should -BeNullOrEmpty
        Assert-NoSecret -Text ($run.Text + (Get-Content -LiteralPath $transcript -Raw)) -Secret $password, "`0alice`0$password"
    }

    It 'tries the mechanisms of -AuthenticationMechanism in the order given (<Command>: LOGIN before PLAIN)' -ForEach @(
        @{ Command = 'Send-SmtpMessage' }, @{ Command = 'Get-Pop3Message' }
    ) {
        Offer 'PLAIN', 'LOGIN'
        $run = Invoke-Command3 $Command @{ Credential = $alice; SkipCertificateCheck = $true; AuthenticationMechanism = 'CRAM-MD5', 'LOGIN', 'PLAIN' }
        $run.Failures | Should -BeNullOrEmpty
        @(Get-Sessions $Command | ForEach-Object AuthMechanism) | Should -Be @('LOGIN')
    }

    It 'Send-SmtpMessage names the mechanism that signed in on its result' {
        Offer 'PLAIN', 'LOGIN'
        $run = Invoke-Command3 'Send-SmtpMessage' @{ Credential = $alice; SkipCertificateCheck = $true; AuthenticationMechanism = 'LOGIN' }
        ($run.Records | Where-Object { $_.PSObject.Properties['Accepted'] }).AuthenticationMechanism | Should -Be 'LOGIN'
    }

    It '<Command>: a mechanism the server does not offer is an error naming what it offers; nothing is sent' -ForEach @(
        @{ Command = 'Send-SmtpMessage' }, @{ Command = 'Get-Pop3Message' }, @{ Command = 'Remove-Pop3Message' }
    ) {
        Offer 'PLAIN', 'LOGIN'
        $run = Invoke-Command3 $Command @{ Credential = $alice; SkipCertificateCheck = $true; AuthenticationMechanism = 'NTLM' }
        $run.Failures.Count | Should -Be 1
        $run.Failures[0].FullyQualifiedErrorId | Should -BeLike 'AuthenticationMechanismNotOffered,*'
        "$($run.Failures[0].CategoryInfo.Category)" | Should -Be 'AuthenticationError'
        $run.Failures[0].Exception.Message | Should -Match 'offers PLAIN, LOGIN.*-AuthenticationMechanism allows only NTLM'
        @(Get-Sessions $Command | ForEach-Object Commands) -match '^(AUTH|USER|PASS|APOP)\b' | Should -BeNullOrEmpty
        $mock.Messages.Count | Should -Be 0
    }

    It '<Command>: excluding every mechanism offered is the same error, naming the exclusion' -ForEach @(
        @{ Command = 'Send-SmtpMessage' }, @{ Command = 'Get-Pop3Message' }
    ) {
        Offer 'LOGIN'
        $mock.Pop3.User = $false
        $mock.Pop3.Apop = $false
        $run = Invoke-Command3 $Command @{ Credential = $alice; SkipCertificateCheck = $true; ExcludeAuthenticationMechanism = 'LOGIN' }
        $run.Failures[0].FullyQualifiedErrorId | Should -BeLike 'AuthenticationMechanismNotOffered,*'
        $run.Failures[0].Exception.Message | Should -Match 'offers LOGIN.*-ExcludeAuthenticationMechanism rules out LOGIN'
        @(Get-Sessions $Command | ForEach-Object Commands) -match '^(AUTH|USER|PASS|APOP)\b' | Should -BeNullOrEmpty
    }

    It '<Command> <Case> is a parameter error before any connection' -ForEach @(
        foreach ($command in 'Send-SmtpMessage', 'Get-Pop3Message', 'Remove-Pop3Message') {
            @{ Command = $command; Case = 'a name both chosen and excluded'; With = @{ Credential = 'alice'; AuthenticationMechanism = 'PLAIN'; ExcludeAuthenticationMechanism = 'PLAIN' }; Id = 'ConflictingAuthenticationMechanism' }
            @{ Command = $command; Case = '-UseDefaultCredentials with PLAIN'; With = @{ UseDefaultCredentials = $true; AuthenticationMechanism = 'PLAIN' }; Id = 'ConflictingAuthenticationMechanism' }
            @{ Command = $command; Case = '-AccessToken with PLAIN'; With = @{ AccessToken = 'token'; UserName = 'alice'; AuthenticationMechanism = 'PLAIN' }; Id = 'ConflictingAuthenticationMechanism' }
            @{ Command = $command; Case = '-Credential with XOAUTH2'; With = @{ Credential = 'alice'; AuthenticationMechanism = 'XOAUTH2' }; Id = 'ConflictingAuthenticationMechanism' }
            @{ Command = $command; Case = 'no credential'; With = @{ AuthenticationMechanism = 'PLAIN' }; Id = 'ConflictingAuthenticationMechanism' }
            @{ Command = $command; Case = 'a name the module does not know'; With = @{ Credential = 'alice'; AuthenticationMechanism = 'KERBEROS' }; Id = 'ParameterArgumentValidationError' }
        }
        @{ Command = 'Send-SmtpMessage'; Case = 'a POP3-only login (USER)'; With = @{ Credential = 'alice'; AuthenticationMechanism = 'USER' }; Id = 'ParameterArgumentValidationError' }
    ) {
        $common = @{ TimeoutSec = 5; ErrorAction = 'Stop' } + $With
        # The -ForEach data is made before BeforeAll runs: the credential and token come in here.
        if ($common.Credential) { $common.Credential = $alice }
        if ($common.AccessToken) { $common.AccessToken = $alice.Password }
        $call = switch ($Command) {
            'Send-SmtpMessage' { { Send-SmtpMessage @common -SmtpServer $mock.Host -Port $mock.SmtpPort -From ops@example.com -To a@example.com -Subject s } }
            'Get-Pop3Message' { { Get-Pop3Message @common -Pop3Server $mock.Host -Port $mock.Pop3Port } }
            'Remove-Pop3Message' { { Remove-Pop3Message @common -Pop3Server $mock.Host -Port $mock.Pop3Port -Uid u1 -Confirm:$false } }
        }
        $call | Should -Throw -ErrorId "$Id,*"
        $mock.SmtpConnectionCount + $mock.Pop3ConnectionCount | Should -Be 0
    }
}

Describe 'NTLM needs a validated TLS session unless the user opts in' {
    BeforeEach { Reset-Mock }

    It '<Command>: over plain text without -AllowUnencryptedAuthentication, NTLM is refused and nothing of it is sent' -ForEach @(
        @{ Command = 'Send-SmtpMessage' }, @{ Command = 'Get-Pop3Message' }
    ) {
        Offer 'NTLM'
        $run = Invoke-Command3 $Command @{ Credential = $carol; TlsMode = 'None'; AuthenticationMechanism = 'NTLM' }
        $run.Failures[0].FullyQualifiedErrorId | Should -BeLike 'UnencryptedAuthenticationRefused,*'
        @(Get-Sessions $Command | ForEach-Object Commands) -match '^(AUTH|USER|PASS)\b' | Should -BeNullOrEmpty
        $mock.Messages.Count | Should -Be 0
    }

    It '<Command>: over TLS whose certificate does not validate (no -SkipCertificateCheck), nothing of NTLM is sent' -ForEach @(
        @{ Command = 'Send-SmtpMessage' }, @{ Command = 'Get-Pop3Message' }
    ) {
        Offer 'NTLM'
        $run = Invoke-Command3 $Command @{ Credential = $carol; TlsMode = 'StartTls'; AuthenticationMechanism = 'NTLM' }
        $run.Failures[0].FullyQualifiedErrorId | Should -BeLike 'CertificateRejected,*'
        @(Get-Sessions $Command | ForEach-Object Commands) -match '^(AUTH|USER|PASS)\b' | Should -BeNullOrEmpty
    }
}

Describe 'NTLM with explicit DOMAIN\user credentials, checked by gss-ntlmssp' -Tag 'Ntlm' {
    BeforeEach { Reset-Mock }

    It 'Send-SmtpMessage signs in with NTLM by default when offered (as DOMAIN\user), and nothing of the exchange is in any stream' {
        if ($noNtlm) { Set-ItResult -Skipped -Because $noNtlm; return }
        Offer 'NTLM', 'PLAIN'
        $run = Invoke-Command3 'Send-SmtpMessage' @{ Credential = $carol; TlsMode = 'StartTls'; SkipCertificateCheck = $true; TranscriptPath = $transcript }
        $run.Failures | Should -BeNullOrEmpty
        ($run.Records | Where-Object { $_.PSObject.Properties['Accepted'] }).AuthenticationMechanism | Should -Be 'NTLM'
        $session = $mock.SmtpSessions[0]
        $session.AuthMechanism | Should -Be 'NTLM'
        $session.AuthUser | Should -Be 'MAILTEST\carol'
        $mock.Messages.Count | Should -Be 1
        $log = Get-Content -LiteralPath $transcript -Raw
        $log | Should -Match 'C: AUTH NTLM'
        $text = $run.Text + $log
        Assert-NoSecret -Text $text -Secret $ntlmPassword
        $text | Should -Not -Match '[A-Za-z0-9+/]{40,}'
        $sent = @($session.Commands | ForEach-Object { ($_ -replace '^AUTH NTLM ', '').Trim() } | Where-Object { $_ -match '^[A-Za-z0-9+/=]{16,}$' })
        $sent.Count | Should -BeGreaterThan 1
        foreach ($token in $sent) { $text | Should -Not -BeLike "*$token*" }
    }

    It 'Get-Pop3Message and Remove-Pop3Message sign in with -AuthenticationMechanism NTLM (user@DOMAIN form too)' {
        if ($noNtlm) { Set-ItResult -Skipped -Because $noNtlm; return }
        Offer 'PLAIN', 'NTLM'
        $uid = $mock.AddMessage('MAILTEST\carol', "From: a@example.com`r`nTo: carol@example.com`r`nSubject: ntlm mail`r`n`r`nbody`r`n")
        $atForm = [pscredential]::new('carol@MAILTEST', $carol.Password)
        $pop = @{ Pop3Server = $mock.Host; Port = $mock.Pop3Port; SkipCertificateCheck = $true; AuthenticationMechanism = 'NTLM'; TimeoutSec = 5; TranscriptPath = $transcript }
        $run = Invoke-Captured {
            $script:subjects = @(Get-Pop3Message @pop -Credential $carol | ForEach-Object Subject)
            $script:deleted = @(Remove-Pop3Message @pop -Credential $atForm -Uid $uid -PassThru -Confirm:$false | ForEach-Object Uid)
        }
        $subjects | Should -Be @('ntlm mail')
        $deleted | Should -Be @($uid)
        @($mock.Pop3Sessions | ForEach-Object AuthMechanism) | Should -Be @('NTLM', 'NTLM')
        @($mock.Pop3Sessions | ForEach-Object User) | Should -Be @('MAILTEST\carol', 'MAILTEST\carol')
        $run.Text | Should -Match "Logged in as 'MAILTEST\\carol' \(NTLM\)"
        $text = $run.Text + (Get-Content -LiteralPath $transcript -Raw)
        Assert-NoSecret -Text $text -Secret $ntlmPassword
        $text | Should -Not -Match '[A-Za-z0-9+/]{40,}'
    }

    It '<Command> over <TlsMode> TLS sends the channel binding, and a mock that requires it lets NTLM sign in' -ForEach @(
        @{ Command = 'Send-SmtpMessage'; TlsMode = 'StartTls' }, @{ Command = 'Send-SmtpMessage'; TlsMode = 'Implicit' }
        @{ Command = 'Get-Pop3Message'; TlsMode = 'StartTls' }, @{ Command = 'Get-Pop3Message'; TlsMode = 'Implicit' }
    ) {
        if ($noNtlm) { Set-ItResult -Skipped -Because $noNtlm; return }
        Offer 'NTLM'
        $mock.RequireNtlmChannelBinding = $true
        $null = $mock.AddMessage('MAILTEST\carol', "From: a@example.com`r`nTo: carol@example.com`r`nSubject: bound`r`n`r`nbody`r`n")
        $tls = @{ Credential = $carol; TlsMode = $TlsMode; SkipCertificateCheck = $true; AuthenticationMechanism = 'NTLM'; TimeoutSec = 5; ErrorAction = 'Continue' }
        $run = Invoke-Captured {
            if ($Command -eq 'Send-SmtpMessage') {
                $port = if ($TlsMode -eq 'Implicit') { $mock.SmtpsPort } else { $mock.SmtpPort }
                Send-SmtpMessage @tls -SmtpServer $mock.Host -Port $port -From ops@example.com -To a@example.com -Subject s -Body b
            }
            else {
                $port = if ($TlsMode -eq 'Implicit') { $mock.Pop3sPort } else { $mock.Pop3Port }
                Get-Pop3Message @tls -Pop3Server $mock.Host -Port $port
            }
        }
        @($run.Records | Where-Object { $_ -is [Management.Automation.ErrorRecord] }) | Should -BeNullOrEmpty
        $session = @(Get-Sessions $Command)[0]
        $session.NtlmChannelBinding | Should -BeTrue
        $session.AuthMechanism | Should -Be 'NTLM'
        $(if ($Command -eq 'Send-SmtpMessage') { $session.AuthUser } else { $session.User }) | Should -Be 'MAILTEST\carol'
        $run.Text | Should -Not -Match 'without channel binding'
    }

    It 'A mock that requires the channel binding refuses an NTLM answer without one (MailKit''s managed NTLM over TLS)' {
        if ($noNtlm) { Set-ItResult -Skipped -Because $noNtlm; return }
        Offer 'NTLM'
        $mock.RequireNtlmChannelBinding = $true
        # MailKit's own copy, in the default context like the tests' MimeKit (common.ps1).
        Add-Type -Path (Join-Path (Split-Path $modulePath) 'core/dependencies/MailKit.dll')
        $tcp = [Net.Sockets.TcpClient]::new($mock.Host, $mock.SmtpsPort)
        try {
            $ssl = [Net.Security.SslStream]::new($tcp.GetStream(), $false, { $true })
            $ssl.AuthenticateAsClient('localhost')
            $reader = [IO.StreamReader]::new($ssl, [Text.Encoding]::ASCII)
            $writer = [IO.StreamWriter]::new($ssl, [Text.Encoding]::ASCII)
            $writer.NewLine = "`r`n"
            $writer.AutoFlush = $true
            function Read-Reply { do { $line = $reader.ReadLine() } while ($line -match '^\d{3}-'); $line }
            $null = Read-Reply
            $writer.WriteLine('EHLO client')
            $null = Read-Reply
            $ntlm = [MailKit.Security.SaslMechanismNtlm]::new([Net.NetworkCredential]::new('carol', $ntlmPassword, 'MAILTEST'))
            $writer.WriteLine("AUTH NTLM $($ntlm.Challenge($null))")
            $challenge = Read-Reply
            $challenge | Should -Match '^334 '
            $writer.WriteLine($ntlm.Challenge($challenge.Substring(4)))
            Read-Reply | Should -Match '^535 '
        }
        finally { $tcp.Dispose() }
        $session = $mock.SmtpSessions[0]
        $session.NtlmChannelBinding | Should -BeFalse
        $session.GssapiFailure | Should -Be 'no channel binding'
        $session.AuthMechanism | Should -BeNullOrEmpty
    }

    It 'Where NegotiateAuthentication has no NTLM, NTLM signs in with MailKit''s managed NTLM, without channel binding, and -Verbose says so' {
        if ($noNtlm) { Set-ItResult -Skipped -Because $noNtlm; return }
        Offer 'NTLM'
        # A second process whose GSSAPI library reads an empty mechanism list: no gss-ntlmssp there.
        $mechanisms = Join-Path $TestDrive 'no-gss-mechanisms'
        Set-Content -LiteralPath $mechanisms -Value ''
        $script = Join-Path $TestDrive 'send-ntlm.ps1'
        Set-Content -LiteralPath $script -Value @'
param($Module, $Port, $Password)
Import-Module $Module
$credential = [pscredential]::new('MAILTEST\carol', (ConvertTo-SecureString $Password -AsPlainText -Force))
Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $Port -TlsMode Implicit -Credential $credential -SkipCertificateCheck -AuthenticationMechanism NTLM -From a@example.com -To b@example.com -Subject s -Body b -TimeoutSec 5 -Verbose 4>&1
'@
        $env:GSS_MECH_CONFIG = $mechanisms
        try { $output = (& (Join-Path $PSHOME 'pwsh') -NoProfile -File $script $modulePath $mock.SmtpsPort $ntlmPassword 2>&1) -join "`n" }
        finally { Remove-Item Env:GSS_MECH_CONFIG }
        $output | Should -Match "NTLM signs in without channel binding \(MailKit's own NTLM\): this system's NegotiateAuthentication has no NTLM"
        $session = $mock.SmtpSessions[0]
        $session.AuthMechanism | Should -Be 'NTLM'
        $session.NtlmChannelBinding | Should -BeFalse
        $mock.Messages.Count | Should -Be 1
        $output | Should -Not -Match ([regex]::Escape($ntlmPassword))
    }

    It '<Command>: a wrong password is refused by the verifier (AuthenticationFailed)' -ForEach @(
        @{ Command = 'Send-SmtpMessage' }, @{ Command = 'Get-Pop3Message' }
    ) {
        if ($noNtlm) { Set-ItResult -Skipped -Because $noNtlm; return }
        Offer 'NTLM'
        $wrong = [pscredential]::new('MAILTEST\carol', (ConvertTo-SecureString 'not-the-password' -AsPlainText -Force))
        $run = Invoke-Command3 $Command @{ Credential = $wrong; SkipCertificateCheck = $true; AuthenticationMechanism = 'NTLM' }
        $run.Failures[0].FullyQualifiedErrorId | Should -BeLike 'AuthenticationFailed,*'
        @(Get-Sessions $Command | ForEach-Object GssapiFailure) | Should -Not -BeNullOrEmpty
        $mock.Messages.Count | Should -Be 0
    }
}
