import Hummingbird

/// Guards the admin API: calls that change something need `Authorization: Bearer <token>`;
/// reads too when `protectReads` is set.
///
/// No or a malformed header: 401 with `WWW-Authenticate`. A wrong token: 403.
struct AdminAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: AdminToken
    let protectReads: Bool
    /// POST routes that only read (explain).
    let readOnlyPaths: Set<String>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let reads = [.get, .head, .options].contains(request.method) || (request.method == .post && readOnlyPaths.contains(request.uri.path))
        if reads, !protectReads { return try await next(request, context) }
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer " else {
            var response = Response.error(.unauthorized, "this call needs Authorization: Bearer <admin token>")
            response.headers[.wwwAuthenticate] = #"Bearer realm="direktiv-dispatch""#
            return response
        }
        guard token.matches(header.dropFirst(7)) else {
            return .error(
                .forbidden,
                token.isConfigured
                    ? "the admin token does not match" : "no admin token is configured (--admin-token-file): calls that change something are refused")
        }
        return try await next(request, context)
    }
}
