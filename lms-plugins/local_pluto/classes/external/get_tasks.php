<?php
// This file is part of Pluto Bridge's Totara plugin local_pluto.
//
// local_pluto is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.

/**
 * local_pluto_get_tasks: the calling user's undismissed tasks or alerts.
 *
 * @package    local_pluto
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

namespace local_pluto\external;

defined('MOODLE_INTERNAL') || die();

global $CFG;
require_once($CFG->libdir . '/externallib.php');
require_once($CFG->dirroot . '/totara/message/messagelib.php');

use external_api;
use external_function_parameters;
use external_multiple_structure;
use external_single_structure;
use external_value;
use local_pluto\local\tasks;

/**
 * Lists what the Tasks or Alerts block lists (tm_messages_get), without the block's limit.
 */
class get_tasks extends external_api {
    /**
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'type' => new external_value(PARAM_ALPHA, 'task or alert'),
        ]);
    }

    /**
     * @param string $type 'task' or 'alert'
     * @return array ['tasks' => [...]] newest first
     */
    public static function execute(string $type): array {
        ['type' => $type] = self::validate_parameters(self::execute_parameters(), ['type' => $type]);
        if (!in_array($type, ['task', 'alert'], true)) {
            throw new \invalid_parameter_exception('type must be task or alert');
        }
        // As totara/message/action.php: a signed-in, real user, acting on their own items only.
        self::validate_context(\context_system::instance());
        if (isguestuser()) {
            throw new \require_login_exception('Guests have no tasks');
        }
        $rows = tm_messages_get('totara_' . $type, 'n.timecreated DESC, n.id DESC', null, false);
        $items = [];
        foreach ($rows as $row) {
            $items[] = tasks::describe($row, $type);
        }
        return ['tasks' => $items];
    }

    /**
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'tasks' => new external_multiple_structure(new external_single_structure([
                'id' => new external_value(PARAM_INT, 'notification id'),
                'type' => new external_value(PARAM_ALPHA, 'task or alert'),
                'subject' => new external_value(PARAM_RAW, 'subject'),
                'fullmessagehtml' => new external_value(PARAM_RAW, 'the text, as HTML'),
                'useridfrom' => new external_value(PARAM_INT, 'sender'),
                'timecreated' => new external_value(PARAM_INT, 'when it was sent'),
                'contexturl' => new external_value(PARAM_RAW, 'where it leads'),
                'contexturlname' => new external_value(PARAM_RAW, 'the link text'),
                'msgtype' => new external_value(PARAM_INT, 'TOTARA_MSG_TYPE_*'),
                'msgstatus' => new external_value(PARAM_INT, '0 undecided, 1 ok, 2 not ok'),
                'urgency' => new external_value(PARAM_INT, '-4 low, 0 normal, 4 urgent'),
                'icon' => new external_value(PARAM_RAW, 'icon name'),
                'canaccept' => new external_value(PARAM_BOOL, 'it has an onaccept workflow and is no link task'),
                'canreject' => new external_value(PARAM_BOOL, 'it has an onreject workflow'),
                'acceptbutton' => new external_value(PARAM_RAW, 'accept label, empty for the default'),
                'rejectbutton' => new external_value(PARAM_RAW, 'reject label, empty for the default'),
                'needsreason' => new external_value(PARAM_BOOL, 'its workflow takes a reason for the decision'),
            ])),
        ]);
    }
}
