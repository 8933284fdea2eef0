Describe 'Send-SmtpMessage' {
    BeforeAll {
        . (Join-Path $PSScriptRoot 'common.ps1')
        $mock = New-MockServer
        $password = 'Secr3t!Pa55'
        $token = 'ya29.TestToken-abc123'
        $alice = [pscredential]::new('alice', (ConvertTo-SecureString $password -AsPlainText -Force))

        function Get-Smtp {
            # Connection parameters for the mock, fast retries, short timeout.
            @{
                SmtpServer           = $mock.Host
                Port                 = $mock.SmtpPort
                SkipCertificateCheck = $true
                MaximumRetryCount    = 2
                RetryIntervalSec     = 0
                TimeoutSec           = 5
            }
        }
    }

    AfterAll {
        $mock.Dispose()
    }

    BeforeEach {
        $mock.Reset()
        $smtp = Get-Smtp
        $watchFile = Join-Path $TestDrive "secrets-$([guid]::NewGuid().ToString('n')).log"
        $PSDefaultParameterValues = Enable-SecretWatch $watchFile
    }

    AfterEach {
        Assert-NoSecretLeft -Path $watchFile -Secret $password, $token, "`0alice`0$password"
    }

    Describe 'Send-SmtpMessage by parameter' {
        It 'sends one message: envelope, headers, body and result object' {
            $result = Send-SmtpMessage @smtp -From 'Ops <ops@example.com>' -To 'alice@example.com' -Subject 'Disk full' -Body 'C: is 99% full'

            $mock.Messages.Count | Should -Be 1
            $msg = $mock.Messages[0]
            $msg.MailFrom | Should -Be 'ops@example.com'
            $msg.AcceptedRecipients | Should -Be @('alice@example.com')
            Get-MimeHeader $msg.DataText 'Subject' | Should -Be 'Disk full'
            Get-MimeHeader $msg.DataText 'From' | Should -Be 'Ops <ops@example.com>'
            $msg.DataText | Should -Match 'C: is 99% full'

            $result.GetType().FullName | Should -Be 'MailProtocols.Engine.Smtp.SmtpSendResult'
            $result.Accepted | Should -Be @('alice@example.com')
            $result.Rejected.Count | Should -Be 0
            "<$($result.MessageId)>" | Should -Be (Get-MimeHeader $msg.DataText 'Message-ID')
            $result.Port | Should -Be $mock.SmtpPort
            $result.ServerResponse | Should -Match 'queued'
            $result.Attempts | Should -Be 1
        }

        It 'binds positional parameters in the order of Send-MailMessage (To, Subject, Body, SmtpServer)' {
            Send-SmtpMessage 'bob@example.com' 'Positional' 'Body text' $mock.Host -From 'ops@example.com' -Port $mock.SmtpPort -SkipCertificateCheck | Out-Null
            $msg = $mock.Messages[0]
            $msg.AcceptedRecipients | Should -Be @('bob@example.com')
            Get-MimeHeader $msg.DataText 'Subject' | Should -Be 'Positional'
        }

        It 'uses $PSEmailServer when -SmtpServer is not given' {
            $PSEmailServer = $mock.Host
            $smtp.Remove('SmtpServer')
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'bob@example.com' -Subject 'fallback' | Out-Null
            $mock.Messages.Count | Should -Be 1
        }

        It 'fails with NoSmtpServer when neither -SmtpServer nor $PSEmailServer is set' {
            $PSEmailServer = $null
            $smtp.Remove('SmtpServer')
            { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'bob@example.com' -ErrorAction Stop } |
                Should -Throw -ErrorId 'NoSmtpServer,MailProtocols.Commands.SendSmtpMessageCommand'
        }

        It 'puts Cc in the headers and Bcc only in the envelope' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Cc 'c@example.com' -Bcc 'hidden@example.com' -ReplyTo 'desk@example.com' -Subject 'x' | Out-Null
            $msg = $mock.Messages[0]
            $msg.AcceptedRecipients | Sort-Object | Should -Be @('a@example.com', 'c@example.com', 'hidden@example.com')
            Get-MimeHeader $msg.DataText 'Cc' | Should -Be 'c@example.com'
            Get-MimeHeader $msg.DataText 'Reply-To' | Should -Be 'desk@example.com'
            $msg.DataText | Should -Not -Match 'hidden@example.com'
        }

        It 'accepts several comma-separated addresses in one -To entry' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com, b@example.com' | Out-Null
            $mock.Messages[0].AcceptedRecipients | Should -Be @('a@example.com', 'b@example.com')
        }

        It 'sets priority headers with -Priority High' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Priority High | Out-Null
            $raw = $mock.Messages[0].DataText
            Get-MimeHeader $raw 'X-Priority' | Should -Be '1'
            Get-MimeHeader $raw 'Importance' | Should -Be 'high'
        }

        It 'sets low-priority headers with -Priority Low, and none for Normal' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Priority Low | Out-Null
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Priority Normal | Out-Null
            Get-MimeHeader $mock.Messages[0].DataText 'Importance' | Should -Be 'low'
            Get-MimeHeader $mock.Messages[0].DataText 'X-Priority' | Should -Be '5'
            Get-MimeHeader $mock.Messages[1].DataText 'Importance' | Should -BeNullOrEmpty
            Get-MimeHeader $mock.Messages[1].DataText 'X-Priority' | Should -BeNullOrEmpty
        }

        It 'sends an HTML body with -BodyAsHtml' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Body '<b>bold</b>' -BodyAsHtml | Out-Null
            Get-MimeHeader $mock.Messages[0].DataText 'Content-Type' | Should -Match '^text/html'
        }

        It 'sends text and HTML together as multipart/alternative' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Body 'plain' -HtmlBody '<p>rich</p>' | Out-Null
            $raw = $mock.Messages[0].DataText
            Get-MimeHeader $raw 'Content-Type' | Should -Match '^multipart/alternative'
            $raw | Should -Match 'Content-Type: text/plain'
            $raw | Should -Match 'Content-Type: text/html'
        }

        It 'attaches files, Unicode file names included' {
            $file = Join-Path $TestDrive 'Bericht für März.txt'
            Set-Content -Path $file -Value 'attachment body'
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Body 'see attached' -Attachments $file | Out-Null
            $raw = $mock.Messages[0].DataText
            Get-MimeHeader $raw 'Content-Type' | Should -Match '^multipart/mixed'
            $parsed = ConvertFrom-RawMessage $mock.Messages[0].Data
            $attachment = @($parsed.Attachments)[0]
            $attachment.FileName | Should -Be 'Bericht für März.txt'
            $attachment.ContentDisposition.Disposition | Should -Be 'attachment'
            $content = [IO.MemoryStream]::new()
            $attachment.Content.DecodeTo($content)
            [Text.Encoding]::UTF8.GetString($content.ToArray()) | Should -Be ([IO.File]::ReadAllText($file))
        }

        It 'embeds inline images referenced by cid:' {
            $png = Join-Path $TestDrive 'logo.png'
            [IO.File]::WriteAllBytes($png, [byte[]](0x89, 0x50, 0x4E, 0x47, 1, 2, 3))
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Body '<img src="cid:logo">' -BodyAsHtml -InlineImage @{ logo = $png } | Out-Null
            $raw = $mock.Messages[0].DataText
            Get-MimeHeader $raw 'Content-Type' | Should -Match '^multipart/related'
            $raw | Should -Match 'Content-Id: <logo>'
            $raw | Should -Match 'Content-Type: image/png'
            $raw | Should -Match 'Content-Disposition: inline'
        }

        It 'adds extra headers from -Header' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Header @{ 'X-Alert-Id' = '4711'; 'X-Source' = 'monitor' } | Out-Null
            $raw = $mock.Messages[0].DataText
            Get-MimeHeader $raw 'X-Alert-Id' | Should -Be '4711'
            Get-MimeHeader $raw 'X-Source' | Should -Be 'monitor'
        }

        It 'uses the charset given with -Encoding' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Body 'Grüße' -Encoding latin1 | Out-Null
            $mock.Messages[0].DataText | Should -Match 'charset=iso-8859-1'
        }

        It 'accepts the -Encoding name <Name> as Send-MailMessage does, and the body arrives intact' -ForEach @(
            @{ Name = 'ansi'; Expected = { [Text.Encoding]::GetEncoding([cultureinfo]::CurrentCulture.TextInfo.ANSICodePage) } }
            @{ Name = 'oem'; Expected = { [Text.Encoding]::GetEncoding([cultureinfo]::CurrentCulture.TextInfo.OEMCodePage) } }
            @{ Name = 'bigendianutf32'; Expected = { [Text.UTF32Encoding]::new($true, $true) } }
            @{ Name = 'utf7'; Expected = { [Text.UTF7Encoding]::new() } }
        ) {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Body 'Grüße' -Encoding $Name -ErrorAction Stop | Out-Null
            # Decoded here with the encoding itself: MimeKit on .NET cannot look UTF-7 up by name.
            $part = @((ConvertFrom-RawMessage $mock.Messages[0].Data).BodyParts)[0]
            $bytes = [IO.MemoryStream]::new()
            $part.Content.DecodeTo($bytes)
            $encoding = & $Expected
            $part.ContentType.Charset | Should -Be $encoding.WebName
            $encoding.GetString($bytes.ToArray()).TrimEnd() | Should -Be 'Grüße'
        }

        It 'encodes a Unicode subject and display name' {
            Send-SmtpMessage @smtp -From 'Jörg Müller <joerg@example.com>' -To 'a@example.com' -Subject 'Störung: Überlauf ✉' | Out-Null
            $raw = $mock.Messages[0].DataText
            Get-MimeHeader $raw 'Subject' | Should -Match '^=\?utf-8\?'
            $parsed = ConvertFrom-RawMessage $mock.Messages[0].Data
            $parsed.Subject | Should -Be 'Störung: Überlauf ✉'
            $parsed.From[0].Name | Should -Be 'Jörg Müller'
        }

        It 'sends no NOTIFY parameter unless a delivery notification is asked for' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' | Out-Null
            $mock.Messages[0].Recipients[0].Parameters.ContainsKey('NOTIFY') | Should -BeFalse
        }

        It 'asks for delivery notifications with -DeliveryNotificationOption' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -DeliveryNotificationOption OnFailure, Delay | Out-Null
            ($mock.Messages[0].Recipients[0].Parameters['NOTIFY'] -split ',') | Sort-Object | Should -Be @('DELAY', 'FAILURE')
        }

        It 'sends NOTIFY=NEVER for -DeliveryNotificationOption Never' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -DeliveryNotificationOption Never | Out-Null
            $mock.Messages[0].Recipients[0].Parameters['NOTIFY'] | Should -Be 'NEVER'
        }

        It 'uses SMTPUTF8 for a Unicode address when the server offers it' {
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'jörg@bücher.example' | Out-Null
            $msg = $mock.Messages[0]
            $msg.MailParameters.ContainsKey('SMTPUTF8') | Should -BeTrue
            $msg.AcceptedRecipients | Should -Be @('jörg@bücher.example')
        }

        It 'encodes an IDN domain as punycode when the server has no SMTPUTF8' {
            $mock.Smtp.SmtpUtf8 = $false
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'info@bücher.example' | Out-Null
            $mock.Messages[0].AcceptedRecipients | Should -Be @('info@xn--bcher-kva.example')
        }

        It 'refuses a Unicode local part when the server has no SMTPUTF8' {
            $mock.Smtp.SmtpUtf8 = $false
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'jörg@example.com' -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            $err[0].FullyQualifiedErrorId | Should -Be 'SmtpUtf8NotSupported,MailProtocols.Commands.SendSmtpMessageCommand'
            $err[0].TargetObject | Should -Be 'jörg@example.com'
            $mock.Messages.Count | Should -Be 0
        }

        It 'gives the same NoSmtpServer error with -WhatIf as without' {
            $PSEmailServer = $null
            $out = Send-SmtpMessage -From 'ops@example.com' -To 'a@example.com' -Subject x -WhatIf -ErrorVariable err -ErrorAction SilentlyContinue 6>&1
            "$out" | Should -Not -Match 'default port'
            @($err.FullyQualifiedErrorId) | Should -Be @('NoSmtpServer,MailProtocols.Commands.SendSmtpMessageCommand')
        }

        It 'says what it would send with -WhatIf and sends nothing' {
            # What-if lines go to the host, not to a stream: read them from a child pwsh.
            $log = Join-Path $TestDrive 'whatif.log'
            $script = "Import-Module '$modulePath'; Send-SmtpMessage -SmtpServer $($mock.Host) -Port $($mock.SmtpPort) -From ops@example.com -To a@example.com -Subject x -TranscriptPath '$log' -WhatIf"
            $out = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -Command $script
            ($out -join "`n") | Should -Match "What if: .*Send message 'x' from ops@example.com to a@example.com"
            $mock.SmtpConnectionCount | Should -Be 0
            $log | Should -Not -Exist
        }
    }

    Describe 'Send-SmtpMessage TLS' {
        It 'uses STARTTLS when the server offers it (default Auto)' {
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com'
            $mock.SmtpSessions[0].Tls | Should -BeTrue
            $result.TlsProtocol | Should -Match '^Tls1[23]$'
        }

        It 'stays in plain text with -TlsMode None' {
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -TlsMode None
            $mock.SmtpSessions[0].Tls | Should -BeFalse
            $result.TlsProtocol | Should -Be 'None'
        }

        It 'connects with implicit TLS' {
            $smtp.Port = $mock.SmtpsPort
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -TlsMode Implicit | Out-Null
            $mock.SmtpSessions[0].ImplicitTls | Should -BeTrue
            $mock.Messages.Count | Should -Be 1
        }

        It 'requires STARTTLS with -UseSsl and fails when it is not offered' {
            $mock.Smtp.StartTls = $false
            { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -UseSsl -ErrorAction Stop } |
                Should -Throw -ErrorId 'StartTlsNotOffered,MailProtocols.Commands.SendSmtpMessageCommand'
            $mock.Messages.Count | Should -Be 0
        }

        It 'fails, never falls back to plain text, when advertised STARTTLS is refused' {
            $mock.Smtp.StartTlsFails = $true
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'StartTlsFailed,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'SecurityError'
            $mock.SmtpSessions[0].Commands | Should -Not -Contain 'MAIL'
            $mock.Messages.Count | Should -Be 0
        }

        It 'validates the certificate when TLS is required (<Case>) and names the way out' -ForEach @(
            @{ Case = '-UseSsl'; Extra = @{ UseSsl = $true } }
            @{ Case = '-TlsMode StartTls'; Extra = @{ TlsMode = 'StartTls' } }
            @{ Case = 'credentials to protect'; Extra = @{}; WithCredential = $true }
        ) {
            $smtp.Remove('SkipCertificateCheck')
            if ($WithCredential) { $Extra = @{ Credential = $alice } }
            $err = { Send-SmtpMessage @smtp @Extra -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'CertificateRejected,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'SecurityError'
            $err.TargetObject | Should -Be "$($mock.Host):$($mock.SmtpPort)"
            $err.Exception.Message | Should -Match 'SkipCertificateCheck'
            $mock.Messages.Count | Should -Be 0
            $mock.SmtpSessions.Commands | Where-Object { $_ -like 'AUTH*' } | Should -BeNullOrEmpty
        }

        It 'goes on encrypted, with a warning, when TLS was not asked for and no credentials go (opportunistic TLS)' {
            $smtp.Remove('SkipCertificateCheck')
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -WarningVariable warnings -WarningAction SilentlyContinue -ErrorAction Stop
            $mock.Messages.Count | Should -Be 1
            $mock.SmtpSessions[0].Tls | Should -BeTrue
            $result.TlsProtocol | Should -Not -Be 'None'
            $result.CertificateValidated | Should -BeFalse
            $result.CertificateProblem | Should -Match 'RemoteCertificate'
            @($warnings).Count | Should -Be 1
            "$($warnings[0])" | Should -Match 'not verified.*-UseSsl'
        }

        It 'says the certificate was not validated with -SkipCertificateCheck, without a warning' {
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -WarningVariable warnings -WarningAction SilentlyContinue
            $result.CertificateValidated | Should -BeFalse
            $result.CertificateProblem | Should -BeNullOrEmpty
            $warnings | Should -BeNullOrEmpty
        }

        It 'requires TLS with -UseSsl -TlsMode Auto as with -UseSsl alone' {
            $mock.Smtp.StartTls = $false
            $err = { Send-SmtpMessage @smtp -UseSsl -TlsMode Auto -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'StartTlsNotOffered,MailProtocols.Commands.SendSmtpMessageCommand'
            $mock.Messages.Count | Should -Be 0
        }

        It 'rejects -UseSsl together with -TlsMode None' {
            { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -UseSsl -TlsMode None -ErrorAction Stop } |
                Should -Throw -ErrorId 'ConflictingTlsParameters,MailProtocols.Commands.SendSmtpMessageCommand'
        }
    }

    Describe 'Send-SmtpMessage with a certificate the system trusts' {
        BeforeAll {
            # A private CA, trusted by a child pwsh through SSL_CERT_FILE (OpenSSL's trust
            # bundle, which .NET reads on Linux), and a mock serving a certificate it signed.
            # The CA has no revocation endpoint, as on a network with no internet: the send
            # must still work, because revocation is not checked unless asked for.
            $authority = [MockMail.TestCertificates]::CreateAuthority('MailProtocols Test CA')
            $now = [DateTimeOffset]::UtcNow
            $trusted = New-Object MockMail.MockServer
            $trusted.UseCertificate([MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-1), $now.AddDays(30)))
            $trusted.Start()
            $expired = New-Object MockMail.MockServer
            $expired.UseCertificate([MockMail.TestCertificates]::CreateServerCertificate($authority, 'localhost', $now.AddDays(-30), $now.AddDays(-1)))
            $expired.Start()
            $bundle = Join-Path $TestDrive 'ca.pem'
            Set-Content -Path $bundle -Value ([MockMail.TestCertificates]::ToPem($authority)) -NoNewline

            $child = @'
param($ModulePath, $TrustedPort, $ExpiredPort)
Import-Module $ModulePath
$outcome = [ordered]@{}
$cases = [ordered]@{
    Trusted        = @{ SmtpServer = 'localhost'; Port = $TrustedPort }
    WrongName      = @{ SmtpServer = '127.0.0.1'; Port = $TrustedPort }
    Revocation     = @{ SmtpServer = 'localhost'; Port = $TrustedPort; CheckCertificateRevocation = $true }
    Expired        = @{ SmtpServer = 'localhost'; Port = $ExpiredPort }
    ExpiredSkipped = @{ SmtpServer = 'localhost'; Port = $ExpiredPort; SkipCertificateCheck = $true }
}
foreach ($name in $cases.Keys) {
    $p = $cases[$name]
    try {
        $result = Send-SmtpMessage @p -TlsMode StartTls -From 'ops@example.com' -To "$name@example.com" -TimeoutSec 10 -ErrorAction Stop
        $outcome[$name] = 'Sent'
        $outcome["${name}Validated"] = $result.CertificateValidated
    }
    catch { $outcome[$name] = $_.FullyQualifiedErrorId + ' | ' + $_.Exception.Message }
}
$outcome | ConvertTo-Json -Compress
'@
            $script = Join-Path $TestDrive 'trust.ps1'
            Set-Content -Path $script -Value $child
            $saved = $env:SSL_CERT_FILE
            try {
                $env:SSL_CERT_FILE = $bundle
                $json = & (Join-Path $PSHOME 'pwsh') -NoProfile -NonInteractive -File $script $modulePath $trusted.SmtpPort $expired.SmtpPort
            }
            finally { $env:SSL_CERT_FILE = $saved }
            $outcome = ($json | Select-Object -Last 1) | ConvertFrom-Json
        }

        AfterAll {
            $trusted.Dispose()
            $expired.Dispose()
        }

        It 'sends through a server whose certificate chains to a trusted CA, with no revocation server reachable' {
            $outcome.Trusted | Should -Be 'Sent'
            $outcome.TrustedValidated | Should -BeTrue
            $trusted.Messages.AcceptedRecipients | Should -Contain 'Trusted@example.com'
        }

        It 'rejects a certificate issued for another host name' {
            $outcome.WrongName | Should -Match '^CertificateRejected,.*RemoteCertificateNameMismatch'
        }

        It 'checks revocation only when asked, and then fails where it cannot be checked' {
            $outcome.Revocation | Should -Match '^CertificateRejected,.*Revocation'
        }

        It 'rejects an expired certificate, and names the way out' {
            $outcome.Expired | Should -Match '^CertificateRejected,.*NotTimeValid.*SkipCertificateCheck'
            $expired.Messages.AcceptedRecipients | Should -Not -Contain 'Expired@example.com'
        }

        It 'accepts an expired certificate with -SkipCertificateCheck' {
            $outcome.ExpiredSkipped | Should -Be 'Sent'
            $outcome.ExpiredSkippedValidated | Should -BeFalse
        }
    }

    Describe 'Send-SmtpMessage authentication' {
        It 'has the secret watch of every test in place (a transcript by default)' {
            Send-SmtpMessage @smtp -Credential $alice -From 'alice@example.com' -To 'a@example.com' | Out-Null
            $watchFile | Should -Exist
            Get-Content $watchFile -Raw | Should -Match 'AUTH'
        }

        It 'authenticates with -Credential over STARTTLS' {
            Send-SmtpMessage @smtp -Credential $alice -From 'alice@example.com' -To 'a@example.com' | Out-Null
            $mock.SmtpSessions[0].AuthUser | Should -Be 'alice'
            $mock.Messages[0].AuthUser | Should -Be 'alice'
        }

        It 'authenticates with an OAuth2 access token (XOAUTH2), user name from -From' {
            $mock.OAuthTokens['alice@example.com'] = $token
            $secure = ConvertTo-SecureString $token -AsPlainText -Force
            Send-SmtpMessage @smtp -AccessToken $secure -From 'Alice <alice@example.com>' -To 'a@example.com' | Out-Null
            $mock.SmtpSessions[0].AuthMechanism | Should -Be 'XOAUTH2'
            $mock.SmtpSessions[0].AuthUser | Should -Be 'alice@example.com'
        }

        It 'authenticates with an OAuth2 access token for the user given by -UserName' {
            $secure = ConvertTo-SecureString $token -AsPlainText -Force
            Send-SmtpMessage @smtp -AccessToken $secure -UserName alice -From 'ops@example.com' -To 'a@example.com' | Out-Null
            $mock.SmtpSessions[0].AuthUser | Should -Be 'alice'
        }

        It 'uses AUTH LOGIN when that is all the server offers' {
            $mock.Smtp.AuthMechanisms = @('LOGIN')
            Send-SmtpMessage @smtp -Credential $alice -From 'alice@example.com' -To 'a@example.com' | Out-Null
            $mock.SmtpSessions[0].AuthMechanism | Should -Be 'LOGIN'
        }

        It 'tries NTLM, as MailKit did for the earlier send path, when that is all the server offers (on-premises Exchange)' {
            # The mock does not implement NTLM: it refuses the attempt, which is not "not supported".
            $mock.Smtp.AuthMechanisms = @('NTLM')
            $err = { Send-SmtpMessage @smtp -Credential $alice -From 'alice@example.com' -To 'a@example.com' -ErrorAction Stop } |
                Should -Throw -PassThru
            ($err.FullyQualifiedErrorId -split ',')[0] | Should -Be 'AuthenticationFailed'
            $null = $mock.WaitForIdle(5000)
            @($mock.SmtpSessions[0].Commands | Where-Object { $_ -like 'AUTH NTLM*' }).Count | Should -Be 1
            $mock.Messages.Count | Should -Be 0
        }

        It 'fails with AuthenticationNotSupported when the server offers no AUTH' {
            $mock.Smtp.AuthMechanisms = @()
            { Send-SmtpMessage @smtp -Credential $alice -From 'alice@example.com' -To 'a@example.com' -ErrorAction Stop } |
                Should -Throw -ErrorId 'AuthenticationNotSupported,MailProtocols.Commands.SendSmtpMessageCommand'
            $mock.Messages.Count | Should -Be 0
        }

        It 'fails with AuthenticationFailed on a wrong password, and sends nothing' {
            $bad = [pscredential]::new('alice', (ConvertTo-SecureString 'wrong' -AsPlainText -Force))
            $err = { Send-SmtpMessage @smtp -Credential $bad -From 'alice@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'AuthenticationFailed,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'AuthenticationError'
            $err.TargetObject | Should -Be 'alice'
            $mock.Messages.Count | Should -Be 0
        }

        It 'never sends credentials over plain text unless allowed' {
            $err = { Send-SmtpMessage @smtp -TlsMode None -Credential $alice -From 'alice@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'UnencryptedAuthenticationRefused,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.Exception.Message | Should -Match 'AllowUnencryptedAuthentication'
            $mock.SmtpSessions[0].Commands | Where-Object { $_ -like 'AUTH*' } | Should -BeNullOrEmpty
            ($mock.SmtpSessions[0].Commands -join "`n") | Should -Not -Match ([regex]::Escape($password))
            $mock.Messages.Count | Should -Be 0
        }

        It 'sends credentials over plain text with -AllowUnencryptedAuthentication' {
            Send-SmtpMessage @smtp -TlsMode None -AllowUnencryptedAuthentication -Credential $alice -From 'alice@example.com' -To 'a@example.com' | Out-Null
            $mock.SmtpSessions[0].AuthUser | Should -Be 'alice'
            $mock.SmtpSessions[0].Tls | Should -BeFalse
        }

        It 'writes a transcript with the AUTH secrets redacted' {
            $log = Join-Path $TestDrive 'smtp.log'
            Send-SmtpMessage @smtp -Credential $alice -From 'alice@example.com' -To 'a@example.com' -TranscriptPath $log | Out-Null
            $text = Get-Content $log -Raw
            $text | Should -Match 'EHLO'
            $text | Should -Match 'AUTH'
            $plain = [Convert]::ToBase64String([Text.Encoding]::UTF8.GetBytes("`0alice`0$password"))
            $text | Should -Not -Match ([regex]::Escape($password))
            $text | Should -Not -Match ([regex]::Escape($plain))
        }

        It 'reports an attachment that fails to read (an I/O error) as AttachmentNotReadable, not as a lost connection, and sends nothing' {
            # Reading /proc/self/mem at offset 0 fails with EIO.
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Attachments /proc/self/mem -ErrorAction Stop } |
                Should -Throw -PassThru
            ($err.FullyQualifiedErrorId -split ',')[0] | Should -Be 'AttachmentNotReadable'
            $null = $mock.WaitForIdle(5000)
            @($mock.SmtpSessions.Commands | Where-Object { $_ -like 'MAIL *' }).Count | Should -Be 0
            $mock.SmtpConnectionCount | Should -BeLessOrEqual 1
        }

        It 'names the connection smtps:// in the transcript for implicit TLS, smtp:// otherwise' {
            $tls = Join-Path $TestDrive 'implicit.log'
            $plain = Join-Path $TestDrive 'plain.log'
            Send-SmtpMessage @smtp -Port $mock.SmtpsPort -TlsMode Implicit -From 'ops@example.com' -To 'a@example.com' -TranscriptPath $tls | Out-Null
            Send-SmtpMessage @smtp -TlsMode None -From 'ops@example.com' -To 'a@example.com' -TranscriptPath $plain | Out-Null
            (Get-Content $tls -Raw) | Should -Match ([regex]::Escape("smtps://$($mock.Host):$($mock.SmtpsPort)"))
            (Get-Content $plain -Raw) | Should -Match ([regex]::Escape("smtp://$($mock.Host):$($mock.SmtpPort)"))
        }

        It 'summarizes the message data in the transcript, and records it only with -IncludeDataInTranscript' {
            $file = Join-Path $TestDrive 'big-attachment.bin'
            [IO.File]::WriteAllBytes($file, [byte[]]::new(2MB))
            $short = Join-Path $TestDrive "summary-$([guid]::NewGuid().ToString('n')).log"
            $long = Join-Path $TestDrive "data-$([guid]::NewGuid().ToString('n')).log"
            $rows = 1..2 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Subject = "transcript $_"; Attachments = $file } }
            $rows | Send-SmtpMessage @smtp -From 'ops@example.com' -TranscriptPath $short | Out-Null
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Subject 'with data' -IncludeDataInTranscript -TranscriptPath $long | Out-Null
            $summary = Get-Content $short -Raw
            (Get-Item $short).Length | Should -BeLessThan 20KB
            $summary | Should -Not -Match 'Subject: transcript'
            @([regex]::Matches($summary, '\[(\d+) bytes of message data\]')).Count | Should -Be 2
            [long]([regex]::Match($summary, '\[(\d+) bytes of message data\]').Groups[1].Value) | Should -BeGreaterThan 2MB
            # What comes after each message's data (the next MAIL FROM, QUIT) is still recorded.
            @([regex]::Matches($summary, 'MAIL FROM')).Count | Should -Be 2
            $summary | Should -Match 'QUIT'
            Get-Content $long -Raw | Should -Match 'Subject: with data'
        }

        It 'records the commands after a refused DATA in the transcript' {
            $log = Join-Path $TestDrive "refused-$([guid]::NewGuid().ToString('n')).log"
            $null = $mock.ReplyTo('DATA', '', '554 5.7.1 Not now', -1)
            Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -TranscriptPath $log -ErrorAction SilentlyContinue | Out-Null
            $text = Get-Content $log -Raw
            $text | Should -Match 'S: 554 5\.7\.1 Not now'
            $text | Should -Match 'C: QUIT'
            $text | Should -Not -Match 'bytes of message data'
        }

        It 'leaks neither password nor token into any stream, error or transcript' {
            $log = Join-Path $TestDrive 'secrets.log'
            $secure = ConvertTo-SecureString $token -AsPlainText -Force
            $badToken = ConvertTo-SecureString 'ya29.WrongToken-zzz' -AsPlainText -Force
            $bad = [pscredential]::new('alice', (ConvertTo-SecureString 'Wr0ng!Secret' -AsPlainText -Force))
            $captured = Invoke-Captured {
                $common = @{ From = 'alice@example.com'; To = 'a@example.com'; TranscriptPath = $log }
                Send-SmtpMessage @smtp @common -Credential $alice
                Send-SmtpMessage @smtp @common -AccessToken $secure -UserName alice
                $mock.Smtp.AuthMechanisms = @('LOGIN')
                Send-SmtpMessage @smtp @common -Credential $alice
                try { Send-SmtpMessage @smtp @common -Credential $bad } catch { $_ }
                $mock.Smtp.AuthMechanisms = @('PLAIN', 'LOGIN', 'XOAUTH2')
                try { Send-SmtpMessage @smtp @common -Credential $bad } catch { $_ }
                try { Send-SmtpMessage @smtp @common -AccessToken $badToken -UserName alice } catch { $_ }
                try { Send-SmtpMessage @smtp @common -TlsMode None -Credential $alice } catch { $_ }
            }
            $captured.Records | Where-Object { $_ -is [System.Management.Automation.VerboseRecord] } | Should -Not -BeNullOrEmpty
            ($captured.Records | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] }).Count | Should -BeGreaterOrEqual 3
            Assert-NoSecret -Text ($captured.Text + (Get-Content $log -Raw)) -Secret $password, $token, 'Wr0ng!Secret', 'ya29.WrongToken-zzz'
        }
    }

    Describe 'Send-SmtpMessage by pipe' {
        BeforeAll {
            $csv = "To,Subject,Body", "alice@example.com,Alert 1,first", "bob@example.com,Alert 2,second", "carol@example.com,Alert 3,third"
        }

        It 'sends one message per CSV row over one connection' {
            $results = $csv | ConvertFrom-Csv | Send-SmtpMessage @smtp -From 'monitor@example.com'
            $results.Count | Should -Be 3
            $mock.SmtpConnectionCount | Should -Be 1
            $mock.Messages.Count | Should -Be 3
            $mock.Messages.AcceptedRecipients | Should -Be @('alice@example.com', 'bob@example.com', 'carol@example.com')
            $mock.Messages | ForEach-Object { Get-MimeHeader $_.DataText 'Subject' } | Should -Be @('Alert 1', 'Alert 2', 'Alert 3')
            $mock.SmtpSessions[0].QuitReceived | Should -BeTrue
        }

        It 'gives every piped row the -Header fields and a Message-ID of its own' {
            $csv | ConvertFrom-Csv | Send-SmtpMessage @smtp -From 'monitor@example.com' -Header @{ 'X-Batch' = '42' } | Out-Null
            $mock.Messages | ForEach-Object { Get-MimeHeader $_.DataText 'X-Batch' } | Should -Be @('42', '42', '42')
            $ids = $mock.Messages | ForEach-Object { Get-MimeHeader $_.DataText 'Message-ID' }
            @($ids | Where-Object { $_ -match '^<[^@\s]+@[^>\s]+>$' } | Sort-Object -Unique).Count | Should -Be 3
        }

        It 'uses PIPELINING when offered: fewer round trips than without' {
            $many = 1..5 | ForEach-Object { [pscustomobject]@{ To = "u$_@example.com"; Cc = "c$_@example.com"; Subject = "s$_" } }
            $many | Send-SmtpMessage @smtp -From 'monitor@example.com' | Out-Null
            $withPipelining = $mock.SmtpSessions[0].RoundTrips
            $mock.Reset()
            $mock.Smtp.Pipelining = $false
            $many | Send-SmtpMessage @smtp -From 'monitor@example.com' | Out-Null
            $without = $mock.SmtpSessions[0].RoundTrips
            $mock.Messages.Count | Should -Be 5
            $withPipelining | Should -BeLessThan $without
        }

        It 'reconnects when the server closes the connection between messages' {
            $null = $mock.ReplyThenClose('DOT', $null, $null, 1)
            $results = $csv | ConvertFrom-Csv | Send-SmtpMessage @smtp -From 'monitor@example.com'
            $results.Count | Should -Be 3
            $mock.SmtpConnectionCount | Should -Be 2
            $mock.Messages.AcceptedRecipients | Should -Be @('alice@example.com', 'bob@example.com', 'carol@example.com')
        }

        It 'writes an error for a bad row and still sends the others' {
            $rows = @([pscustomobject]@{ To = 'ok1@example.com' }, [pscustomobject]@{ To = 'not an address' }, [pscustomobject]@{ To = 'ok2@example.com' })
            $results = $rows | Send-SmtpMessage @smtp -From 'monitor@example.com' -ErrorVariable err -ErrorAction SilentlyContinue
            $results.Count | Should -Be 2
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'InvalidAddress,MailProtocols.Commands.SendSmtpMessageCommand'
            $err[0].TargetObject | Should -Be 'not an address'
            $mock.Messages.AcceptedRecipients | Should -Be @('ok1@example.com', 'ok2@example.com')
        }

        It 'sends piped files as attachments of one message, like Send-MailMessage' {
            1..3 | ForEach-Object { Set-Content -Path (Join-Path $TestDrive "app$_.log") -Value "log $_" }
            $result = Get-ChildItem $TestDrive -Filter 'app*.log' | Send-SmtpMessage @smtp -From 'monitor@example.com' -To 'ops@example.com' -Subject 'logs'
            @($result).Count | Should -Be 1
            $mock.Messages.Count | Should -Be 1
            $raw = $mock.Messages[0].DataText
            foreach ($n in 1..3) { $raw | Should -Match "filename=app$n\.log" }
        }

        It 'takes piped strings as attachment paths' {
            Set-Content -Path (Join-Path $TestDrive 'one.txt') -Value 'one'
            Set-Content -Path (Join-Path $TestDrive 'two.txt') -Value 'two'
            (Join-Path $TestDrive 'one.txt'), (Join-Path $TestDrive 'two.txt') |
                Send-SmtpMessage @smtp -From 'monitor@example.com' -To 'ops@example.com' -Subject 'files' | Out-Null
            $mock.Messages.Count | Should -Be 1
            @((ConvertFrom-RawMessage $mock.Messages[0].Data).Attachments).FileName | Should -Be @('one.txt', 'two.txt')
        }

        It 'adds piped files to the files given with -Attachments' {
            Set-Content -Path (Join-Path $TestDrive 'cmd.txt') -Value 'cmd'
            Set-Content -Path (Join-Path $TestDrive 'piped.txt') -Value 'piped'
            Get-Item (Join-Path $TestDrive 'piped.txt') |
                Send-SmtpMessage @smtp -From 'monitor@example.com' -To 'ops@example.com' -Attachments (Join-Path $TestDrive 'cmd.txt') | Out-Null
            @((ConvertFrom-RawMessage $mock.Messages[0].Data).Attachments).FileName | Should -Be @('cmd.txt', 'piped.txt')
        }

        It 'writes AttachmentNotFound for a piped path that does not exist, and sends nothing' {
            (Join-Path $TestDrive 'absent.txt') | Send-SmtpMessage @smtp -From 'monitor@example.com' -To 'ops@example.com' -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            $err[0].FullyQualifiedErrorId | Should -Be 'AttachmentNotFound,MailProtocols.Commands.SendSmtpMessageCommand'
            $mock.SmtpConnectionCount | Should -Be 0
        }

        Context 'no attachment silently dropped' {
            BeforeEach {
                $dir = Join-Path $TestDrive "att-$([guid]::NewGuid().ToString('n'))"
                $null = New-Item -ItemType Directory -Path $dir
                Set-Content -LiteralPath (Join-Path $dir 'report[1].txt') -Value 'bracketed'
                Set-Content -LiteralPath (Join-Path $dir 'a.log') -Value 'a'
                Set-Content -LiteralPath (Join-Path $dir 'b.log') -Value 'b'
                $smtp.MaximumRetryCount = 0
            }

            It 'attaches a file named report[1].txt given as <How>' -ForEach @(
                @{ How = 'a piped Get-Item'; Send = { param($s, $f) Get-Item -LiteralPath $f | Send-SmtpMessage @s -From m@example.com -To o@example.com } }
                @{ How = 'a piped Get-ChildItem'; Send = { param($s, $f) Get-ChildItem -LiteralPath (Split-Path $f) -Filter '*.txt' | Send-SmtpMessage @s -From m@example.com -To o@example.com } }
                @{ How = 'its .FullName to -Attachments'; Send = { param($s, $f) Send-SmtpMessage @s -From m@example.com -To o@example.com -Attachments (Get-Item -LiteralPath $f).FullName } }
                @{ How = 'its .FullName piped as a string'; Send = { param($s, $f) (Get-Item -LiteralPath $f).FullName | Send-SmtpMessage @s -From m@example.com -To o@example.com } }
                @{ How = 'an escaped path to -Attachments'; Send = { param($s, $f) Send-SmtpMessage @s -From m@example.com -To o@example.com -Attachments ([WildcardPattern]::Escape($f)) } }
            ) {
                $records = & $Send $smtp (Join-Path $dir 'report[1].txt') 2>&1
                $records | Where-Object { $_ -is [System.Management.Automation.ErrorRecord] } | Should -BeNullOrEmpty
                $mock.Messages.Count | Should -Be 1
                @((ConvertFrom-RawMessage $mock.Messages[0].Data).Attachments).FileName | Should -Be @('report[1].txt')
            }

            It 'attaches every file a pattern matches' {
                Send-SmtpMessage @smtp -From m@example.com -To o@example.com -Attachments (Join-Path $dir '*.log') | Out-Null
                @((ConvertFrom-RawMessage $mock.Messages[0].Data).Attachments).FileName | Sort-Object | Should -Be @('a.log', 'b.log')
            }

            It 'fails, and sends nothing, when a pattern matches no file' {
                $out = Send-SmtpMessage @smtp -From m@example.com -To o@example.com -Attachments (Join-Path $dir '*.zip') -ErrorVariable err -ErrorAction SilentlyContinue
                $out | Should -BeNullOrEmpty
                $err.Count | Should -Be 1
                $err[0].FullyQualifiedErrorId | Should -Be 'AttachmentNotFound,MailProtocols.Commands.SendSmtpMessageCommand'
                $err[0].TargetObject | Should -Be (Join-Path $dir '*.zip')
                "$($err[0])" | Should -Match 'matches no file'
                $mock.SmtpConnectionCount | Should -Be 0
            }

            It 'takes an empty Attachments cell of a CSV row as no attachment' {
                $rows = "To,Subject,Attachments", "p@example.com,empty,", "o@example.com,with,$(Join-Path $dir 'a.log')", 'q@example.com,quoted,""' | ConvertFrom-Csv
                $out = $rows | Send-SmtpMessage @smtp -From m@example.com -ErrorVariable err -ErrorAction SilentlyContinue
                $err | Should -BeNullOrEmpty
                @($out).Count | Should -Be 3
                @($mock.Messages | ForEach-Object { @((ConvertFrom-RawMessage $_.Data).Attachments).Count }) | Should -Be @(0, 1, 0)
            }

            It 'gives one clear error for a piped folder, and sends nothing rather than a message without it' {
                $null = New-Item -ItemType Directory -Path (Join-Path $dir 'sub')
                $out = Get-ChildItem -LiteralPath $dir | Send-SmtpMessage @smtp -From m@example.com -To o@example.com -ErrorVariable err -ErrorAction SilentlyContinue
                $out | Should -BeNullOrEmpty
                @($err.FullyQualifiedErrorId) | Should -Be @('AttachmentIsFolder,MailProtocols.Commands.SendSmtpMessageCommand')
                $err[0].TargetObject | Should -Be (Join-Path $dir 'sub')
                $mock.SmtpConnectionCount | Should -Be 0
            }

            It 'sends nothing when one of several piped files is missing' {
                $out = (Join-Path $dir 'a.log'), (Join-Path $dir 'gone.log'), (Join-Path $dir 'b.log') |
                    Send-SmtpMessage @smtp -From m@example.com -To o@example.com -ErrorVariable err -ErrorAction SilentlyContinue
                $out | Should -BeNullOrEmpty
                @($err.FullyQualifiedErrorId) | Should -Be @('AttachmentNotFound,MailProtocols.Commands.SendSmtpMessageCommand')
                $mock.SmtpConnectionCount | Should -Be 0
            }
        }

        It 'refuses a pipeline that mixes files and message rows' {
            Set-Content -Path (Join-Path $TestDrive 'mixed.log') -Value 'x'
            $items = @([pscustomobject]@{ Subject = 'row' }, (Get-Item (Join-Path $TestDrive 'mixed.log')))
            $items | Send-SmtpMessage @smtp -From 'monitor@example.com' -To 'ops@example.com' -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'MixedPipelineInput,MailProtocols.Commands.SendSmtpMessageCommand'
            $mock.Messages.Count | Should -Be 1
            $mock.Messages[0].DataText | Should -Not -Match 'mixed\.log'
        }
    }

    Describe 'Send-SmtpMessage errors' {
        It 'rejects a malformed address before connecting' {
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'bad@@example' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'InvalidAddress,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'InvalidArgument'
            $err.TargetObject | Should -Be 'bad@@example'
            $mock.SmtpConnectionCount | Should -Be 0
        }

        It 'rejects a missing attachment before connecting' {
            $missing = Join-Path $TestDrive 'nope.txt'
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Attachments $missing -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'AttachmentNotFound,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'ObjectNotFound'
            $err.TargetObject | Should -Be $missing
            $mock.SmtpConnectionCount | Should -Be 0
        }

        It 'rejects a subject with a line break (header injection) before connecting' {
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Subject "hi`r`nBcc: victim@example.com" -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'InvalidSubject,MailProtocols.Commands.SendSmtpMessageCommand'
            $mock.SmtpConnectionCount | Should -Be 0
        }

        It 'connects to the protocol''s port for the TLS mode when -Port is not given (<Mode>: <Port>)' -ForEach @(
            @{ Mode = 'Auto'; Port = 25 }, @{ Mode = 'StartTls'; Port = 25 }, @{ Mode = 'Implicit'; Port = 465 }
        ) {
            # Nothing listens on 127.0.0.2 here: the error names the endpoint that was tried.
            Send-SmtpMessage -SmtpServer 127.0.0.2 -TlsMode $Mode -TimeoutSec 5 -MaximumRetryCount 0 -From 'ops@example.com' -To 'a@example.com' -ErrorVariable err -ErrorAction SilentlyContinue
            $err[0].TargetObject | Should -Be "127.0.0.2:$Port"
        }

        It 'reports an unreachable host as ConnectFailed' {
            $listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Loopback, 0)
            $listener.Start(); $port = $listener.LocalEndpoint.Port; $listener.Stop()
            $smtp.Port = $port
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'ConnectFailed,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'ConnectionError'
            $err.TargetObject | Should -Be "$($mock.Host):$port"
        }

        It 'refuses, before MAIL FROM, a message larger than the SIZE the server announces, and goes on with the next' {
            $mock.Smtp.MaxSize = 20000
            $file = Join-Path $TestDrive 'too-big.bin'
            [IO.File]::WriteAllBytes($file, [byte[]]::new(40000))
            $rows = [pscustomobject]@{ To = 'a@example.com'; Subject = 'big'; Attachments = $file }, [pscustomobject]@{ To = 'b@example.com'; Subject = 'small' }
            $out = $rows | Send-SmtpMessage @smtp -From 'ops@example.com' -ErrorVariable err -ErrorAction SilentlyContinue
            @($err.FullyQualifiedErrorId) | Should -Be @('MessageTooLarge,MailProtocols.Commands.SendSmtpMessageCommand')
            $err[0].CategoryInfo.Category | Should -Be 'LimitsExceeded'
            "$($err[0])" | Should -Match '5\d,\d{3} bytes.* 20,000 bytes'
            @($out).Count | Should -Be 1
            $mock.Messages.AcceptedRecipients | Should -Be @('b@example.com')
            @($mock.SmtpSessions.Commands | Where-Object { $_ -like 'MAIL*' }).Count | Should -Be 1
        }

        It 'refuses an inline image that names no file, or several, and sends nothing' {
            $html = @{ HtmlBody = '<img src="cid:a">' }
            Send-SmtpMessage @smtp @html -From 'ops@example.com' -To 'a@example.com' -InlineImage @{ a = '' } -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            @($err.FullyQualifiedErrorId) | Should -Be @('AttachmentNotFound,MailProtocols.Commands.SendSmtpMessageCommand')
            $dir = (New-Item -ItemType Directory -Path (Join-Path $TestDrive "inline-$([guid]::NewGuid().ToString('n'))")).FullName
            'x' | Set-Content (Join-Path $dir 'one.png'); 'y' | Set-Content (Join-Path $dir 'two.png')
            Send-SmtpMessage @smtp @html -From 'ops@example.com' -To 'a@example.com' -InlineImage @{ a = (Join-Path $dir '*.png') } -ErrorVariable err -ErrorAction SilentlyContinue | Out-Null
            "$($err[0])" | Should -Match 'matches 2 files'
            $mock.SmtpConnectionCount | Should -Be 0
        }

        It 'delivers to the others and writes one error per rejected recipient' {
            $null = $mock.ReplyTo('RCPT', 'bob@', '550 5.1.1 <bob@example.com> No such user', -1)
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'alice@example.com', 'bob@example.com', 'carol@example.com' -ErrorVariable err -ErrorAction SilentlyContinue
            $mock.Messages.Count | Should -Be 1
            $mock.Messages[0].AcceptedRecipients | Should -Be @('alice@example.com', 'carol@example.com')
            $err.Count | Should -Be 1
            $err[0].FullyQualifiedErrorId | Should -Be 'RecipientRejected,MailProtocols.Commands.SendSmtpMessageCommand'
            $err[0].TargetObject | Should -Be 'bob@example.com'
            $err[0].Exception.Message | Should -Match 'No such user'
            $result.Rejected.Address | Should -Be @('bob@example.com')
            $result.Accepted | Should -Be @('alice@example.com', 'carol@example.com')
        }

        It 'writes list properties that Export-Csv turns into text, and keeps them lists' {
            $null = $mock.ReplyTo('RCPT', 'c@', '550 5.1.1 No such user', -1)
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com', 'b@example.com', 'c@example.com' -ErrorAction SilentlyContinue
            $row = $result | ConvertTo-Csv | ConvertFrom-Csv
            $row.Accepted | Should -Be 'a@example.com; b@example.com'
            $row.Rejected | Should -Be 'c@example.com'
            $result.Accepted[1] | Should -Be 'b@example.com'
            $result.Accepted.Count | Should -Be 2
            $result.Accepted.Length | Should -Be 2
            $result.Rejected.Address | Should -Be @('c@example.com')
            ($result | ConvertTo-Json | ConvertFrom-Json).Accepted | Should -Be @('a@example.com', 'b@example.com')
        }

        It 'sends nothing when every recipient is rejected' {
            $null = $mock.ReplyTo('RCPT', $null, '550 5.1.1 No such user', -1)
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com', 'b@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'AllRecipientsRejected,MailProtocols.Commands.SendSmtpMessageCommand'
            $mock.Messages.Count | Should -Be 0
            # DATA goes in the same write as MAIL and RCPT (RFC 2920); the server refuses it, and no data follows.
            @($mock.SmtpSessions[0].Transactions | Where-Object { $null -ne $_.Data }).Count | Should -Be 0
        }

        It 'retries a transient 451 after the data and delivers exactly once' {
            $null = $mock.ReplyTo('DOT', $null, '451 4.3.0 Try again later', 1)
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com'
            $result.Attempts | Should -Be 2
            $mock.Messages.Count | Should -Be 1
        }

        It 'retries only the recipient that got a transient 4xx' {
            $null = $mock.ReplyTo('RCPT', 'b@', '451 4.2.1 Mailbox busy', 1)
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com', 'b@example.com'
            $result.Accepted | Sort-Object | Should -Be @('a@example.com', 'b@example.com')
            $mock.Messages.Count | Should -Be 2
            $mock.Messages[0].AcceptedRecipients | Should -Be @('a@example.com')
            $mock.Messages[1].AcceptedRecipients | Should -Be @('b@example.com')
        }

        It 'gives up after the retries with a ResourceUnavailable error' {
            $null = $mock.ReplyTo('MAIL', $null, '451 4.3.0 Try again later', -1)
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'SenderRejected,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'ResourceUnavailable'
            ($mock.SmtpSessions.Commands | Where-Object { $_ -like 'MAIL*' }).Count | Should -Be 3
            $mock.Messages.Count | Should -Be 0
        }

        It 'does not retry with -MaximumRetryCount 0' {
            $null = $mock.ReplyTo('DOT', $null, '451 4.3.0 Try again later', 1)
            { Send-SmtpMessage @smtp -MaximumRetryCount 0 -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } |
                Should -Throw -ErrorId 'MessageRejected,MailProtocols.Commands.SendSmtpMessageCommand'
            ($mock.SmtpSessions.Commands | Where-Object { $_ -eq 'DATA' }).Count | Should -Be 1
        }

        It 'waits -RetryIntervalSec before a retry' {
            $null = $mock.ReplyTo('DOT', $null, '451 4.3.0 Try again later', 1)
            $result = Send-SmtpMessage @smtp -RetryIntervalSec 1 -From 'ops@example.com' -To 'a@example.com'
            $result.Attempts | Should -Be 2
            # A lower bound only: the retry cannot come sooner than the interval.
            $result.Elapsed.TotalSeconds | Should -BeGreaterOrEqual 1
        }

        It 'does not retry a permanent 5xx after the data' {
            $null = $mock.ReplyTo('DOT', $null, '554 5.7.1 Message refused', -1)
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'MessageRejected,MailProtocols.Commands.SendSmtpMessageCommand'
            ($mock.SmtpSessions.Commands | Where-Object { $_ -eq 'DATA' }).Count | Should -Be 1
        }

        It 'retries on a new connection after 421 and close' {
            $null = $mock.ReplyThenClose('MAIL', $null, '421 4.3.2 Shutting down', 1)
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com'
            $result.Attempts | Should -Be 2
            $mock.SmtpConnectionCount | Should -Be 2
            $mock.Messages.Count | Should -Be 1
        }

        It 'retries a message whose connection was lost mid-DATA, and delivers it once' {
            $big = Join-Path $TestDrive 'big.bin'
            [IO.File]::WriteAllBytes($big, [byte[]]::new(8MB))
            $null = $mock.CloseMidData(4096, 1)
            $result = Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -Attachments $big
            $result.Attempts | Should -Be 2
            $mock.Messages.Count | Should -Be 1
        }

        It 'reports DeliveryUnknown, and does not retry, when the connection drops after the final dot' {
            $null = $mock.CloseOn('DOT', $null, 1)
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $err.FullyQualifiedErrorId | Should -Be 'DeliveryUnknown,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'ConnectionError'
            $err.Exception.Message | Should -Match 'not sent again'
            $mock.SmtpConnectionCount | Should -Be 1
            ($mock.SmtpSessions.Commands | Where-Object { $_ -eq 'DATA' }).Count | Should -Be 1
        }

        It 'times out on a silent server' {
            $null = $mock.NeverReply('MAIL', -1)
            $smtp.TimeoutSec = 2
            $watch = [Diagnostics.Stopwatch]::StartNew()
            $err = { Send-SmtpMessage @smtp -From 'ops@example.com' -To 'a@example.com' -ErrorAction Stop } | Should -Throw -PassThru
            $watch.Stop()
            $err.FullyQualifiedErrorId | Should -Be 'Timeout,MailProtocols.Commands.SendSmtpMessageCommand'
            $err.CategoryInfo.Category | Should -Be 'OperationTimeout'
            $watch.Elapsed.TotalSeconds | Should -BeLessThan 4
        }

        It 'stops within a second on Ctrl+C while the server is silent' {
            $null = $mock.NeverReply('MAIL', -1)
            $stop = Measure-Stop -Script {
                param($Port)
                Send-SmtpMessage -SmtpServer 127.0.0.1 -Port $Port -SkipCertificateCheck -TimeoutSec 60 -From 'ops@example.com' -To 'a@example.com'
            } -ArgumentList $mock.SmtpPort -Until { $mock.SmtpSessions.Commands -like 'MAIL*' }
            $stop.Reached | Should -BeTrue
            $stop.Completed | Should -BeTrue
            $stop.Seconds | Should -BeLessThan 1
            $stop.State | Should -Be 'Stopped'
            $mock.Messages.Count | Should -Be 0
        }
    }
}
