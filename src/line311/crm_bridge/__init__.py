"""crm_bridge"""
