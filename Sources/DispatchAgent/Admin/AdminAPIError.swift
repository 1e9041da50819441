import Hummingbird

/// An admin API call that cannot be answered as asked; rendered as `{"error": "..."}`.
struct AdminAPIError: HTTPResponseError {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        .error(status, message)
    }
}
